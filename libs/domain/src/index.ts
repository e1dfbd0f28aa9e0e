export * from './task.types';
export * from './roll-up';
export * from './domain-error';
export * from './account-identifier';
export * from './enable-planner';
export * from './rate-limit';
export * from './batch-sequencing';
