#!/bin/bash
# `ric bench service` against a server whose ciphertext bytes are in SeaweedFS (--blobs): N (2,000) uploads at
# concurrency 16, the server SIGKILLed once K (1,000) are acknowledged and restarted; the bench's audit, then a
# cleanup pass and a count of objects and records. Run from the project root: scripts/scale_out/service_blobs_kill.sh [N] [K]
set -u
N=${1:-2000}; K=${2:-1000}
PY=${PY:-/work/main/.venv/bin/python}
export PYTHONPATH=$(pwd)/src OMP_NUM_THREADS=1
W=$(mktemp -d /tmp/ric-svcblobs.XXXXXX); port=$((20000 + RANDOM % 9000))
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
$PY -c "
import boto3, time
s3 = boto3.client('s3')
for _ in range(60):
    try: s3.create_bucket(Bucket='svc'); break
    except Exception: time.sleep(1)
"
DB=sqlite:///$W/store.db
$PY -m ric.cli bench service --n $N --concurrency 16 --kill-at $K --db $DB \
  --server-args "--blobs s3://svc/store --rate-limit 0" 2>&1 | sed -n '1,/^{/p' | head -40
count() { $PY -c "
import boto3, sqlite3
p = boto3.client('s3').get_paginator('list_objects_v2')
objs = sum(len(pg.get('Contents', [])) for pg in p.paginate(Bucket='svc', Prefix='store/'))
rows = sqlite3.connect('$W/store.db').execute('select count(*), count(distinct blob), sum(blob is null) from ric_images').fetchone()
print(f'objects: {objs}; records: {rows[0]} ({rows[1]} distinct objects named, {rows[2]} without one)')"; }
echo "before cleanup: $(count)"
$PY -m ric.cli cleanup --db $DB --blobs s3://svc/store --grace 0
echo "after cleanup: $(count)"
