import { Global, Inject, Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AppLogger } from '@app/logging';
import { dataSourceOptions, runMigrationsLocked } from './data-source';
import { IdempotencyStore } from './idempotency.store';
import { TaskStore } from './task.store';
import { TaskSearchStore } from './task-search.store';
import { ApiKeyStore } from './api-key.store';
import { ProviderStatusStore } from './provider-status.store';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => dataSourceOptions(config.databaseUrl),
    }),
  ],
  providers: [TaskStore, IdempotencyStore, ApiKeyStore, TaskSearchStore, ProviderStatusStore],
  exports: [TaskStore, IdempotencyStore, ApiKeyStore, TaskSearchStore, ProviderStatusStore],
})
export class PersistenceModule implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly logger: AppLogger,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.migrateOnStart) return;
    const applied = await runMigrationsLocked(this.dataSource);
    if (applied.length) this.logger.info('migrations applied', { migrations: applied });
  }
}
