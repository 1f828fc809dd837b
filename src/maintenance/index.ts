export {
  ensureEventPartitions,
  hasEventLog,
  type PartitionChange,
  type EventPartitionOptions,
  type EventLogMaintenance,
} from './event-partitions.js';
export { maintain, type MaintenanceReport } from './maintain.js';
