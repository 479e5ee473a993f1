#!/usr/bin/env node
// The CLI lives in dist/ once `npm run build` (make setup) has compiled it.
import '../dist/cli/main.js';
