"Lines per module and code-cell sizes per notebook (mean, max, count over 15 lines): `python tools/sizes.py [ROOT]`."
import json, sys, glob, os
root = sys.argv[1] if len(sys.argv) > 1 else '.'
print('| module | lines |'); print('|---|---|')
for f in sorted(glob.glob(f'{root}/mllmsent/*.py')):
    if f.endswith('_modidx.py'): continue
    print(f'| {os.path.basename(f)} | {sum(1 for _ in open(f))} |')
print('\n| notebook | code cells | mean lines | max lines | > 15 lines |'); print('|---|---|---|---|---|')
allc = []
for f in sorted(glob.glob(f'{root}/nbs/*.ipynb') + glob.glob(f'{root}/nbs/experiments/*.ipynb')):
    nb = json.load(open(f))
    n = [len(''.join(c['source']).strip().splitlines()) for c in nb['cells'] if c['cell_type'] == 'code' and ''.join(c['source']).strip()]
    if not n: continue
    allc += n
    print(f'| {os.path.relpath(f, root + "/nbs")} | {len(n)} | {sum(n)/len(n):.1f} | {max(n)} | {sum(x > 15 for x in n)} |')
print(f'\nall code cells: {len(allc)}, mean {sum(allc)/len(allc):.1f}, over 15 lines: {sum(x > 15 for x in allc)/len(allc):.0%}')
