export * from './config-error';
export * from './providers.config';
export * from './app-config';
export * from './config.module';
export * from './shutdown';
