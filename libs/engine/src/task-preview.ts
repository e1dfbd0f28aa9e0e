import type { TaskEntity } from '@app/persistence';
import { TargetView, TaskView, toTaskView } from './task-view';

/**
 * What each target of a dry-run task would do: a Disable acts everywhere it was asked to (`disable`); an
 * Enable re-enables where the account was enabled before the incident (`enable`), leaves it disabled where it
 * already was (`leaveDisabled`), and does nothing where it would fail at once (a provider no longer configured).
 */
export type PlannedAction = 'disable' | 'enable' | 'leaveDisabled' | 'none';

export interface PreviewTargetView extends TargetView {
  plannedAction: PlannedAction;
}

/** CONTRACT §5 `?dryRun=true`: the task as it would be. It was never stored, so it has no id. */
export interface TaskPreview extends Omit<TaskView, 'id' | 'targets'> {
  id: null;
  dryRun: true;
  targets: PreviewTargetView[];
}

export function toTaskPreview(task: TaskEntity): TaskPreview {
  const view = toTaskView(task);
  return {
    ...view,
    id: null,
    dryRun: true,
    targets: view.targets.map((t) => ({ ...t, plannedAction: plannedAction(task, t) })),
  };
}

function plannedAction(task: TaskEntity, t: TargetView): PlannedAction {
  if (t.status === 'pending') return task.action === 'disableAccount' ? 'disable' : 'enable';
  if (t.outcome === 'leftDisabled') return 'leaveDisabled';
  return 'none';
}
