"""Real photos from scikit-image / scikit-learn (measurement only)."""
import numpy as np
import skimage.data as sd
from sklearn.datasets import load_sample_images

ACCEPT = ["chelsea", "coffee", "rocket", "motorcycle", "astronaut", "china", "flower"]
EXTRA = ["motorcycle_right", "hubble_deep_field", "immunohistochemistry", "retina", "skin", "camera", "coins",
         "eagle", "grass", "gravel", "brick", "moon", "page", "text", "clock", "horse", "colorwheel", "logo"]


def photos(names=ACCEPT + EXTRA):
    out = {}
    ch, fl = load_sample_images().images
    for n in names:
        try:
            a = {"china": lambda: ch, "flower": lambda: fl, "chelsea": sd.chelsea,
                 "motorcycle": lambda: sd.stereo_motorcycle()[0], "motorcycle_right": lambda: sd.stereo_motorcycle()[1]
                 }.get(n, getattr(sd, n, None))()
        except Exception as e:
            print(f"# {n}: unavailable ({type(e).__name__})")
            continue
        a = np.asarray(a)
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.dtype != np.uint8:
            a = (255 * (a - a.min()) / max(1e-9, a.max() - a.min())).astype(np.uint8)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, 2)
        out[n] = np.ascontiguousarray(a[..., :3])
    return out
