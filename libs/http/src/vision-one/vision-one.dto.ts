import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TARGET_OUTCOMES, TASK_ACTIONS } from '@app/domain';
import { VISION_ONE_IAMS, VISION_ONE_STATUSES } from './vision-one-view';

// These classes document the Vision One-style door (OpenAPI) in Vision One's own names; the door checks its
// input by hand so that each item of a batch gets its own answer.

export class VisionOneAccountItemDto {
  @ApiProperty({
    example: 'jdoe@corp.example',
    description:
      'The account: UPN, mail, DOMAIN\\name, sAMAccountName/uid/login, DN, GUID, SID, Okta id or Entra object id.',
  })
  accountName!: string;
  @ApiPropertyOptional({ maxLength: 2000, example: 'Impossible travel, case 4711' })
  description?: string;
}

export class VisionOneHeaderDto {
  @ApiProperty({ example: 'Operation-Location' })
  name!: string;
  @ApiProperty({ example: 'https://engine.example/v3.0/response/tasks/5b0e1a9e-8f3c-4f7e-9a51-0c2b7d1e4f60' })
  value!: string;
}

export class VisionOneInnerErrorDto {
  @ApiProperty({
    example: 'taskInProgress',
    description:
      "The engine's own error code (as on the native API); details such as taskId or candidates sit beside it.",
  })
  code!: string;
  @ApiPropertyOptional()
  message?: string;
}

export class VisionOneErrorDto {
  @ApiProperty({
    example: 'TaskError',
    enum: [
      'BadRequest',
      'TaskError',
      'Unauthorized',
      'AccessDenied',
      'NotFound',
      'Conflict',
      'UnprocessableEntity',
      'InternalServerError',
      'ServiceUnavailable',
    ],
  })
  code!: string;
  @ApiProperty({ example: 'Task duplication.' })
  message!: string;
  @ApiPropertyOptional({ type: VisionOneInnerErrorDto })
  innererror?: VisionOneInnerErrorDto;
}

export class VisionOneErrorBodyDto {
  @ApiProperty({ type: VisionOneErrorDto })
  error!: VisionOneErrorDto;
}

export class VisionOneMultiStatusItemDto {
  @ApiProperty({
    example: 202,
    description:
      '202: task created, Operation-Location names it. 400 TaskError "Task duplication.": a task for the account is ' +
      'already in progress, Operation-Location names it. 400 BadRequest: the item is invalid, or (Enable) the ' +
      'account has no Disable task to reverse ("Target not found.").',
  })
  status!: number;
  @ApiPropertyOptional({ type: [VisionOneHeaderDto] })
  headers?: VisionOneHeaderDto[];
  @ApiPropertyOptional({ type: VisionOneErrorBodyDto })
  body?: VisionOneErrorBodyDto;
}

export class VisionOneWarningDto {
  @ApiProperty()
  code!: string;
  @ApiProperty()
  message!: string;
}

export class VisionOneSubTaskDto {
  @ApiProperty({
    enum: VISION_ONE_IAMS,
    description: 'AAD: Entra ID; OPAD: Active Directory; OKTA: Okta; OPENLDAP: OpenLDAP.',
  })
  iam!: string;
  @ApiProperty({ example: 'jdoe@corp.example', description: 'The account as the request named it.' })
  accountName!: string;
  @ApiProperty({ enum: VISION_ONE_STATUSES })
  status!: string;
  @ApiProperty({ example: '2021-04-06T08:22:37Z' })
  lastActionDateTime!: string;
  @ApiPropertyOptional({ type: VisionOneErrorDto, description: 'Why this directory failed.' })
  error?: VisionOneErrorDto;
  @ApiProperty({
    example: 'corp-ad',
    description: 'The provider id (engine addition: two forests share one iam).',
  })
  provider!: string;
  @ApiProperty({
    enum: TARGET_OUTCOMES,
    type: String,
    nullable: true,
    description: 'What the directory did (engine addition).',
  })
  outcome!: string | null;
  @ApiPropertyOptional({
    type: [VisionOneWarningDto],
    description: 'Follow-ups that failed after the change landed (engine addition).',
  })
  warnings?: VisionOneWarningDto[];
}

export class VisionOneTaskDto {
  @ApiProperty({ example: '5b0e1a9e-8f3c-4f7e-9a51-0c2b7d1e4f60' })
  id!: string;
  @ApiProperty({
    enum: VISION_ONE_STATUSES,
    description:
      'queued: no directory has begun; running; succeeded; failed: failed in some or all directories (see tasks).',
  })
  status!: string;
  @ApiProperty({ example: '2021-04-05T08:22:37Z' })
  createdDateTime!: string;
  @ApiProperty({ example: '2021-04-06T08:22:37Z' })
  lastActionDateTime!: string;
  @ApiProperty({ type: String, nullable: true, example: 'Impossible travel, case 4711' })
  description!: string | null;
  @ApiProperty({ enum: TASK_ACTIONS })
  action!: string;
  @ApiProperty({ example: 'soar-playbook', description: 'Who created the task: the API key name.' })
  account!: string;
  @ApiProperty({ type: [VisionOneSubTaskDto], description: 'One entry per directory (provider).' })
  tasks!: VisionOneSubTaskDto[];
  @ApiPropertyOptional({
    type: VisionOneErrorDto,
    description: 'Why the task failed when no directory says, e.g. accountNotFound (engine addition).',
  })
  error?: VisionOneErrorDto;
}

export class VisionOneTaskListDto {
  @ApiProperty({ type: [VisionOneTaskDto] })
  items!: VisionOneTaskDto[];
  @ApiPropertyOptional({ description: 'The absolute URL of the next page; absent on the last page.' })
  nextLink?: string;
}
