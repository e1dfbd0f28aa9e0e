import { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * Reads entities out of raw statements that return several tables' rows at once (a claim returns the target
 * it updated and its task in one round trip). The column lists come from the entities' own metadata, so a
 * column added to an entity is read here without another list to keep in step.
 */
export class EntityRows<T extends ObjectLiteral> {
  private readonly columns: Array<{ databaseName: string; propertyName: string }>;

  constructor(
    dataSource: DataSource,
    private readonly entity: EntityTarget<T> & (new () => T),
    /** Prefix of the aliases, unique among the entities one statement returns. */
    private readonly prefix: string,
  ) {
    this.columns = dataSource
      .getMetadata(entity)
      .columns.map((c) => ({ databaseName: c.databaseName, propertyName: c.propertyName }));
  }

  /** `alias.col AS "prefix_col", …` for a SELECT list. */
  select(alias: string): string {
    return this.columns
      .map((c) => `${alias}.${c.databaseName} AS "${this.prefix}${c.databaseName}"`)
      .join(', ');
  }

  from(row: Record<string, unknown>): T {
    const e = new this.entity();
    for (const c of this.columns)
      (e as Record<string, unknown>)[c.propertyName] = row[this.prefix + c.databaseName];
    return e;
  }
}
