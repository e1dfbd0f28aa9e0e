export * from './scopes';
export * from './api-key.service';
export * from './api-key.guard';
export * from './auth.module';
