/** The top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`), for the bench's closing lines. */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** Where a frame's code lives: an npm package, a file of ours (src/, queue/, cli/), node internals, or V8's pseudo-frames. */
function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1];
  const ours = /\/((?:src|queue|cli|bin)\/.*)$/.exec(u);
  if (ours) return ours[1];
  return u.startsWith('node:') || !u.includes('/') ? 'node internals' : u;
}

const maps = new Map<string, SourceMap | null>();

/**
 * A frame in the command's bundle (dist/bundle/, scripts/build.js) traced
 * back through the chunk's source map to the module it came from (a file of
 * dist/ or of a package); other frames as they are.
 */
function original(f: CallFrame): { url: string; line: number } {
  if (!/\/dist\/bundle\/[^/]+\.js$/.test(f.url)) return { url: f.url, line: f.lineNumber };
  const file = fileURLToPath(f.url);
  let map = maps.get(file);
  if (map === undefined) {
    map = existsSync(`${file}.map`) ? new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as never) : null;
    maps.set(file, map);
  }
  const e: { originalSource?: string; originalLine?: number } | undefined = map?.findEntry(f.lineNumber, f.columnNumber);
  if (!e?.originalSource) return { url: f.url, line: f.lineNumber };
  const src = e.originalSource.startsWith('file:') ? e.originalSource : pathToFileURL(path.resolve(path.dirname(file), e.originalSource)).href;
  return { url: src, line: e.originalLine ?? 0 };
}

export function topSelfTime(file: string, count = 15): { total: number; lines: string[]; modules: string[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    if (!n) continue;
    const f = n.callFrame;
    const o = original(f);
    const where = o.url ? `${path.basename(o.url.replace(/^file:\/\//, ''))}:${o.line + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    const mod = moduleOf(o.url, f.functionName);
    byModule.set(mod, (byModule.get(mod) ?? 0) + dt);
    total += dt;
  }
  const lines = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, count)
    .map(([k, ms]) => `${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${k}`);
  const modules = [...byModule.entries()].sort((a, b) => b[1] - a[1]).slice(0, count)
    .map(([k, ms]) => `${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${k}`);
  return { total, lines, modules };
}
