import { Module } from '@nestjs/common';
import { ProviderService } from './provider.service';
import { TaskService } from './task.service';

/**
 * What the API process (and the CLI) needs: the task use cases, and the provider overview. It acts on no
 * directory; ProviderService reaches one only when asked to test it.
 */
@Module({
  providers: [TaskService, ProviderService],
  exports: [TaskService, ProviderService],
})
export class EngineModule {}
