export * from './ldap-escape';
export * from './ldap-connection';
export * from './protected-accounts';
