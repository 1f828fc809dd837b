export { openStorage, type OpenStorageOptions, type Storage } from './open-storage.js';
