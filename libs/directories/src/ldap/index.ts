export * from './ldap-escape';
export * from './ldap-connection';
export * from './protected-accounts';
export * from './ldap-probe';
export * from './write-right-probe';
export * from './post-read-control';
