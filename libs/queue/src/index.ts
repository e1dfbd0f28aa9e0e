export * from './target-queues';
export * from './target-dispatcher';
export * from './target-workers';
export * from './redis-connection';
export * from './queue.module';
export * from './semaphore';
