// Registers an opener for `netns:NAME` guests (NetnsIntrospector). The sensor child hands this module to the
// Sensor's worker thread (`introspection.modules`), so the namespace "guest" is walked off the event loop like a
// VM's memory.
import { registerIntrospector } from '../../dist/index.js';
import { NetnsIntrospector } from './netns-introspector.mjs';

registerIntrospector(function netns(spec) {
  const m = /^netns:(.+)$/.exec(spec.memory);
  return m ? new NetnsIntrospector(m[1]) : undefined;
});
