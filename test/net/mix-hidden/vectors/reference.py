# Independent reference for test/net/mix-hidden/vectors/keys.json: RFC 8032 Ed25519 arithmetic in plain Python
# (no library), base32 from the standard library. `python3 reference.py --json > keys.json` regenerates the file.
import hashlib, base64, struct
p = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p-2, p) % p
def inv(x): return pow(x, p-2, p)
I = pow(2, (p-1)//4, p)
def xrecover(y):
    xx = (y*y-1) * inv(d*y*y+1)
    x = pow(xx, (p+3)//8, p)
    if (x*x - xx) % p != 0: x = (x*I) % p
    if x % 2 != 0: x = p-x
    return x
By = 4 * inv(5) % p
Bx = xrecover(By)
B = (Bx, By, 1, Bx*By % p)
def add(P, Q):
    (X1,Y1,Z1,T1)=P; (X2,Y2,Z2,T2)=Q
    A=(Y1-X1)*(Y2-X2)%p; Bq=(Y1+X1)*(Y2+X2)%p; C=T1*2*d*T2%p; D=Z1*2*Z2%p
    E=Bq-A; F=D-C; G=D+C; H=Bq+A
    return (E*F%p, G*H%p, F*G%p, E*H%p)
def mul(s, P):
    Q=(0,1,1,0)
    while s>0:
        if s&1: Q=add(Q,P)
        P=add(P,P); s>>=1
    return Q
def enc(P):
    X,Y,Z,T=P; zi=inv(Z); x=X*zi%p; y=Y*zi%p
    return (y | ((x & 1) << 255)).to_bytes(32,'little')
def dec(b):
    y=int.from_bytes(b,'little') & ((1<<255)-1); s=b[31]>>7
    x=xrecover(y)
    if (x & 1) != s: x=p-x
    return (x,y,1,x*y%p)
def clamp(h):
    a=bytearray(h[:32]); a[0]&=248; a[31]&=63; a[31]|=64
    return int.from_bytes(a,'little')
def sha256(*parts): return hashlib.sha256(b''.join(parts)).digest()
def sha512(*parts): return hashlib.sha512(b''.join(parts)).digest()
def pub_from_seed(seed):
    h=sha512(seed); return enc(mul(clamp(h), B)), clamp(h), h[32:]
def address(hs_id):
    cs=sha256(b'hidden-service-checksum', hs_id)[:2]
    return base64.b32encode(hs_id+cs).decode().lower().rstrip('=') + '.mix'
def blind_pk(hs_id, epoch):
    r=sha256(b'key blinding', hs_id, struct.pack('>Q', epoch))
    return enc(mul(clamp(r), dec(hs_id)))
def sign(x, prefix, A, m):
    r=int.from_bytes(sha512(prefix, m),'little') % L
    R=enc(mul(r,B)); k=int.from_bytes(sha512(R, A, m),'little') % L
    return R + ((r + k*x) % L).to_bytes(32,'little')
def disc_key(bk, epoch):
    e=sha256(b'mix-hs-public-entropy', struct.pack('>Q', epoch))
    return sha256(b'discovery key', bk, e)
import json, sys
MESSAGE = b'mix-hs test message'
out = []
for seedhex in ['00'*32, '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', bytes(range(32)).hex()]:
    seed = bytes.fromhex(seedhex)
    A, x, dpre = pub_from_seed(seed)
    entry = {'seed': seedhex, 'hsId': A.hex(), 'checksum': sha256(b'hidden-service-checksum', A)[:2].hex(), 'address': address(A), 'epochs': []}
    for epoch in [0, 20000]:
        bk = blind_pk(A, epoch)
        r = sha256(b'key blinding', A, struct.pack('>Q', epoch))
        xb = (clamp(r) * x) % L
        assert enc(mul(xb, B)) == bk
        dp = sha512(b'key blinding nonce', dpre)[:32]
        entry['epochs'].append({'epoch': epoch, 'blindingFactor': r.hex(), 'blindedKey': bk.hex(), 'discKey': disc_key(bk, epoch).hex(), 'signature': sign(xb, dp, bk, MESSAGE).hex()})
    out.append(entry)
if '--json' in sys.argv:
    print(json.dumps({'message': MESSAGE.decode(), 'vectors': out}, indent=2))
