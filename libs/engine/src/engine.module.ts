import { Module } from '@nestjs/common';
import { TaskService } from './task.service';

/** What the API process needs: the task use cases. It never talks to a directory. */
@Module({
  providers: [TaskService],
  exports: [TaskService],
})
export class EngineModule {}
