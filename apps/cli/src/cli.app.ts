import { DynamicModule, Global, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppConfig, ConfigModule } from '@app/config';
import { EngineModule } from '@app/engine';
import { AppLogger, LogLevel } from '@app/logging';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';

/**
 * The CLI's logger writes to stderr and only warnings by default: stdout belongs to the command's output (JSON
 * with --json), and an operator at a terminal does not want the processes' info lines.
 */
export function cliLogger(): AppLogger {
  const level = (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  return new AppLogger('cli', level, (line) => process.stderr.write(line + '\n'));
}

@Global()
@Module({ providers: [{ provide: AppLogger, useFactory: cliLogger }], exports: [AppLogger] })
class CliLoggingModule {}

/**
 * The engine's use cases without HTTP: the same TaskService and ProviderService the API calls, on the same
 * PostgreSQL and Redis, so a task created here is queued for the workers like any other.
 */
@Module({})
export class CliAppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CliAppModule,
      imports: [ConfigModule.forRoot(config), CliLoggingModule, PersistenceModule, QueueModule, EngineModule],
    };
  }
}

export async function createCliContext(config: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(CliAppModule.forRoot(config), {
    bufferLogs: true,
    // A failure to start (database unreachable, say) must reach main's handler and its exit code, not end the
    // process from inside Nest.
    abortOnError: false,
  });
  app.useLogger(app.get(AppLogger));
  return app;
}
