"""The command prefix that starts a stage on several processes (torchrun), kept free of torch so that the
Snakemake workflow can build its command lines without importing it."""

from __future__ import annotations


def launch_command(python: str, gpus: int, nodes: int, port: int = 29500) -> str:
    """The command prefix that starts a stage module on gpus x nodes processes (`python` itself for one).

    One node: `torchrun --standalone --nproc-per-node G`. Several nodes (inside a SLURM allocation): one torchrun
    per node via srun, meeting at the allocation's first host (c10d rendezvous keyed by the job id).
    """
    if gpus < 1 or nodes < 1:
        raise ValueError(f"gpus and nodes must be >= 1, got gpus={gpus}, nodes={nodes}")
    if gpus * nodes == 1:
        return f"{python}"
    run = f"{python} -m torch.distributed.run --nproc-per-node {gpus}"
    if nodes == 1:
        return f"{run} --standalone"
    head = '$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'
    return (f"srun --nodes {nodes} --ntasks-per-node 1 {run} --nnodes {nodes} --rdzv-backend c10d"
            f" --rdzv-endpoint {head}:{port} --rdzv-id \"$SLURM_JOB_ID\"")
