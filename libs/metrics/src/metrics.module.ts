import { Global, Module } from '@nestjs/common';
import { AppMetrics } from './app-metrics';
import { MetricsSources } from './metrics-sources';

/**
 * One metrics registry per application. Global, so the stores and services that count events take AppMetrics
 * as an optional dependency and work unchanged where no application imports this module (the CLI).
 */
@Global()
@Module({
  providers: [AppMetrics, MetricsSources],
  exports: [AppMetrics],
})
export class MetricsModule {}
