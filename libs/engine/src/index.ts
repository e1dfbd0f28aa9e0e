export * from './task-view';
export * from './task.service';
export * from './target-runner';
export * from './reconciler';
export * from './engine.module';
export * from './engine-worker.module';
