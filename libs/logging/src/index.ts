export * from './app-logger';
export * from './logging.module';
export * from './request-context';
