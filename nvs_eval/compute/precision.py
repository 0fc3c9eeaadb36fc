"""The precisions the evaluator can run LPIPS at (a light module: the CLI reads its choices from here)."""

PRECISIONS = {
    "float32": "exact float32 everywhere (the default; equal to the references)",
    "bf16": "LPIPS convolutions in bfloat16 autocast (CPU or CUDA); PSNR, SSIM and the LPIPS sums stay float32",
    "fp16": "LPIPS convolutions in float16 autocast (CUDA only)",
    "tf32": "TF32 tensor-core matmuls and convolutions for LPIPS (CUDA only)",
}
