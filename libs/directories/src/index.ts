export * from './directory-adapter';
export * from './directory-error';
export * from './adapter-context';
export * from './directory-registry';
export * from './provider-check';
export * from './rate-gate';
