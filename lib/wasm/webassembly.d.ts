/**
 * The part of WebAssembly's JavaScript API the wasm backend uses. Node has had it since v8, but
 * TypeScript declares it only in its DOM libraries (and @types/node from v22), which this package
 * does not compile against. Only lib/wasm uses these types; none appears in the public API.
 */
declare global {
  namespace WebAssembly {
    type ImportValue = Memory | Global | ((...args: never[]) => unknown);
    type Imports = Record<string, Record<string, ImportValue>>;

    class Module {
      constructor(bytes: ArrayBufferView | ArrayBuffer);
    }

    class Instance {
      constructor(module: Module, imports?: Imports);
      readonly exports: Record<string, unknown>;
    }

    interface MemoryDescriptor {
      initial: number;
      maximum?: number;
      shared?: boolean;
    }

    class Memory {
      constructor(descriptor: MemoryDescriptor);
      /** An ArrayBuffer, or a SharedArrayBuffer for a shared memory; a new one after each grow. */
      readonly buffer: ArrayBuffer;
      grow(deltaPages: number): number;
    }

    class Global {
      value: number;
    }
  }
}

export {};
