export {
  ensureEventPartitions,
  hasEventLog,
  type PartitionChange,
  type EventPartitionOptions,
} from './event-partitions.js';
