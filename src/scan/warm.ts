/**
 * Everything a scan would otherwise load on first use, loaded now: the rule catalogues (the
 * globals facts included), and the parsers kept out of start-up (src/core/lazy.ts). For processes
 * that live long, such as the gateway's scan workers, so the first request costs what later ones
 * do. A new catalogue loaded lazily by an analyzer belongs in this list.
 */
import { loadLazyModules } from '../core/lazy.js';
import { templateCatalogue } from '../formats/jinja/catalogue.js';
import { hydraRules } from '../formats/instantiation.js';
import { kerasRules } from '../formats/keras/rules.js';
import { pythonCatalogue } from '../formats/python/catalogue.js';
import { callConditionCatalogue } from '../rules/call-conditions.js';
import { callEffectsCatalogue } from '../rules/call-effects.js';
import { onnxDomainCatalogue } from '../rules/onnx-domains.js';
import { tfOpCatalogue } from '../rules/tf-ops.js';
import type { Engine } from './engine.js';

export interface WarmReport {
  /** Catalogues loaded, by file. */
  catalogues: string[];
  /** Packages loaded ahead of their first use. */
  packages: string[];
}

export function warmEngine(engine: Engine): WarmReport {
  // The first classification loads the globals facts (the largest catalogue).
  engine.globals.classify('builtins', 'int');
  callConditionCatalogue();
  callEffectsCatalogue();
  tfOpCatalogue();
  onnxDomainCatalogue();
  kerasRules();
  hydraRules();
  templateCatalogue();
  pythonCatalogue();
  return {
    catalogues: ['globals.yaml', 'globals-facts.json', 'call-conditions.yaml', 'call-effects.yaml', 'tf-ops.yaml', 'tf-standard-ops.txt', 'tflite-custom-ops.yaml', 'onnx-domains.yaml', 'keras.yaml', 'keras-cves.yaml', 'hydra.yaml', 'templates.yaml', 'python-calls.yaml'],
    packages: loadLazyModules(),
  };
}
