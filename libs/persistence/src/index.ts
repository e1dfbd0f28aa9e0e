export * from './entities';
export * from './data-source';
export * from './task.store';
export * from './task-search.store';
export * from './idempotency.store';
export * from './api-key.store';
export * from './provider-status.store';
export * from './persistence.module';
