export * from './app-metrics';
export * from './cached-sample';
export * from './metrics-auth';
export * from './metrics-sources';
export * from './metrics.module';
