export * from './app-logger';
export * from './logging.module';
