import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, RequireScope } from '@app/auth';
import { BatchView, TaskService } from '@app/engine';
import { ApiErrorEnvelopeDto, ApiErrorResponses, BatchViewDto } from './dto';

/** A bulk request's progress (CONTRACT §5); its tasks are listed by GET /api/v1/tasks?batchId=. */
@ApiTags('tasks')
@ApiBearerAuth()
@Controller('api/v1/batches')
@UseGuards(ApiKeyGuard)
export class BatchesController {
  constructor(private readonly tasks: TaskService) {}

  @Get(':id')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: "A bulk request's tasks counted by status; done once none is in progress." })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The batchId of the bulk answer.' })
  @ApiResponse({ status: 200, type: BatchViewDto })
  @ApiErrorResponses(401, 403, 429, 503)
  @ApiResponse({ status: 404, type: ApiErrorEnvelopeDto, description: 'batchNotFound' })
  get(@Param('id') id: string): Promise<BatchView> {
    return this.tasks.getBatch(id);
  }
}
