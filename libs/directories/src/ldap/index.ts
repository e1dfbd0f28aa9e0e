export * from './ldap-escape';
export * from './ldap-connection';
