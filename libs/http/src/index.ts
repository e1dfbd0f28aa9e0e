export * from './error.filter';
export * from './idempotency.interceptor';
export * from './tasks.controller';
export * from './health.controller';
export * from './http-api.module';
export * from './openapi';
export * from './dto';
