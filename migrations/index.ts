import { InitialSchema1763800000000 } from './1763800000000-InitialSchema';
import { OneAccountOneTimeline1764000000000 } from './1764000000000-OneAccountOneTimeline';
import { Webhooks1764300000000 } from './1764300000000-Webhooks';
import { Limits1764400000000 } from './1764400000000-Limits';
import { ProviderHistory1764500000000 } from './1764500000000-ProviderHistory';
import { Batches1764600000000 } from './1764600000000-Batches';
import { OutboxPerStatement1764700000000 } from './1764700000000-OutboxPerStatement';

/** Listed explicitly (not globbed) so the same list works from ts-node, jest and the compiled dist. */
export const MIGRATIONS = [
  InitialSchema1763800000000,
  OneAccountOneTimeline1764000000000,
  Webhooks1764300000000,
  Limits1764400000000,
  ProviderHistory1764500000000,
  Batches1764600000000,
  OutboxPerStatement1764700000000,
];
