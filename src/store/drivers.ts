/**
 * The state-store backends the config may name (`store.driver`). Kept apart
 * from the factory so the config schema can list them without loading a
 * database driver.
 */
export const STORE_DRIVERS = ['sqlite'] as const;
export type StoreDriver = (typeof STORE_DRIVERS)[number];
