export * from './okta-emulator';
export { UserStore, EmulatedUser, Fixture, FixtureUser, OktaUserStatus } from './user-store';
