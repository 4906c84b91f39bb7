/** Moving attention's operands between the 2-D activation layout and per-(image, head) blocks. */
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../../backend/tf';

/**
 * Split a [rows, cols] tensor into `count` row blocks of `shape`, through the
 * host: on wasm, `slice` and `split` copy their whole input on every call and
 * `gather` walks elements one by one, while a read and a write are two
 * memcpys (measured).
 */
function hostBlocks(t: Tensor2D, count: number, shape: [number, number]): Tensor2D[] {
  const data = t.dataSync<'float32'>();
  const size = shape[0] * shape[1];
  const out: Tensor2D[] = [];
  for (let b = 0; b < count; b++) out.push(tf.tensor2d(data.subarray(b * size, (b + 1) * size), shape));
  return out;
}

/** Moves between the 2-D activation layout [n*T, H*dh] and per-(image, head) blocks. */
export class HeadLayout {
  /** Tokens per image. */
  readonly T: number;
  /** Width of one head. */
  readonly dh: number;
  /** Number of (image, head) blocks. */
  readonly B: number;

  constructor(
    readonly rows: number,
    readonly width: number,
    readonly n: number,
    readonly heads: number,
  ) {
    this.T = rows / n;
    this.dh = width / heads;
    this.B = n * heads;
  }

  /** [n*T, H*dh] -> [n*H, T, dh]: block b = (image, head). */
  byHead(t: Tensor): Tensor3D {
    return tf.reshape(tf.transpose(tf.reshape(t, [this.n, this.T, this.heads, this.dh]), [0, 2, 1, 3]), [
      this.B,
      this.T,
      this.dh,
    ]);
  }

  /** [n*T, H*dh] -> [n*H, dh, T]: each block transposed. */
  byHeadT(t: Tensor): Tensor3D {
    return tf.reshape(tf.transpose(tf.reshape(t, [this.n, this.T, this.heads, this.dh]), [0, 2, 3, 1]), [
      this.B,
      this.dh,
      this.T,
    ]);
  }

  /** [n*H, T, dh] -> [n*T, H*dh] */
  fromHeads(t: Tensor): Tensor2D {
    return tf.reshape(tf.transpose(tf.reshape(t, [this.n, this.heads, this.T, this.dh]), [0, 2, 1, 3]), [
      this.rows,
      this.width,
    ]);
  }

  /** The blocks of `byHead(t)`, each [T, dh], as separate tensors. */
  blocks(t: Tensor): Tensor2D[] {
    return tf.tidy(() => hostBlocks(tf.reshape(this.byHead(t), [this.B, this.T * this.dh]), this.B, [this.T, this.dh]));
  }

  /** The blocks of `byHeadT(t)`, each [dh, T]. */
  blocksT(t: Tensor): Tensor2D[] {
    return tf.tidy(() =>
      hostBlocks(tf.reshape(this.byHeadT(t), [this.B, this.T * this.dh]), this.B, [this.dh, this.T]),
    );
  }

  /** [T, dh] blocks back to [n*T, H*dh]. */
  joinBlocks(blocks: Tensor2D[]): Tensor2D {
    return tf.tidy(() => this.fromHeads(tf.reshape(tf.concat(blocks, 0), [this.B, this.T, this.dh])));
  }
}
