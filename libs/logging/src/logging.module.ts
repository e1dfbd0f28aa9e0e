import { Global, Module } from '@nestjs/common';
import { AppLogger } from './app-logger';

@Global()
@Module({
  providers: [{ provide: AppLogger, useFactory: () => new AppLogger('app') }],
  exports: [AppLogger],
})
export class LoggingModule {}
