import { Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { ApiKeyEntity } from './entities';

@Injectable()
export class ApiKeyStore {
  constructor(private readonly dataSource: DataSource) {}

  private get repo() {
    return this.dataSource.getRepository(ApiKeyEntity);
  }

  async insert(row: {
    name: string;
    keyPrefix: string;
    keyHash: string;
    scopes: string[];
    disableLimit: number | null;
    disableWindowSeconds: number | null;
  }): Promise<ApiKeyEntity> {
    return this.repo.save(this.repo.create({ ...row, createdAt: new Date() }));
  }

  findActiveByHash(keyHash: string): Promise<ApiKeyEntity | null> {
    return this.repo.findOne({ where: { keyHash, revokedAt: IsNull() } });
  }

  findByName(name: string): Promise<ApiKeyEntity | null> {
    return this.repo.findOne({ where: { name } });
  }

  list(): Promise<ApiKeyEntity[]> {
    return this.repo.find({ order: { createdAt: 'ASC' } });
  }

  async revoke(name: string): Promise<boolean> {
    const result = await this.repo.update({ name, revokedAt: IsNull() }, { revokedAt: new Date() });
    return (result.affected ?? 0) > 0;
  }

  /** At most once a minute per key, so that authenticating a request does not cost a write each time. */
  async touch(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }
}
