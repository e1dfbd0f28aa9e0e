import { ApiKeyEntity } from './api-key.entity';
import { TaskEventEntity } from './task-event.entity';
import { TaskTargetEntity } from './task-target.entity';
import { TaskEntity } from './task.entity';

export { ApiKeyEntity, TaskEventEntity, TaskTargetEntity, TaskEntity };
export type { TaskEventType } from './task-event.entity';
export const ENTITIES = [TaskEntity, TaskTargetEntity, ApiKeyEntity, TaskEventEntity];
