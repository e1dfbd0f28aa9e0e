export * from './error.filter';
export * from './idempotency.interceptor';
export * from './tasks.controller';
export * from './health.controller';
export * from './http-api.module';
export * from './openapi';
export * from './dto';
export { adaxesBodyParser } from './adaxes/adaxes-body';
export { ADAXES_BASE_PATH } from './adaxes/adaxes.controller';
