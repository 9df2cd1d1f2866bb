import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { runStorageConformance } from "./conformance.ts";

runStorageConformance("MemoryStorage", () => new MemoryStorage());
