"""Drives the real huggingface_hub / transformers clients against HF_ENDPOINT for the gateway's
end-to-end tests, and prints one JSON object: what happened, the exception type and its text.
Never loads a malicious file: it only downloads through the gateway, which must refuse first;
the test then checks that the refused bytes are nowhere in the cache.

usage: hf_client.py ACTION REPO [FILE] [DEST]
       hf_client.py download-as REPO FILE LIBRARY_NAME LIBRARY_VERSION
       hf_client.py user-agent - [LIBRARY_NAME LIBRARY_VERSION]
"""
import json
import sys
import traceback


def main():
    action, repo = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    out = {"ok": False}
    try:
        if action == "download":
            from huggingface_hub import hf_hub_download
            p = hf_hub_download(repo, arg)
            out = {"ok": True, "path": p}
        elif action == "download-as":
            # The calling library's name and version lead the User-Agent, as transformers or
            # diffusers set them.
            from huggingface_hub import hf_hub_download
            p = hf_hub_download(repo, arg, library_name=sys.argv[4], library_version=sys.argv[5])
            out = {"ok": True, "path": p}
        elif action == "user-agent":
            # The header this client sends on its downloads (the same builder hf_hub_download uses).
            from huggingface_hub.utils import build_hf_headers
            lib = {"library_name": sys.argv[3], "library_version": sys.argv[4]} if len(sys.argv) > 4 else {}
            out = {"ok": True, "userAgent": build_hf_headers(**lib)["user-agent"]}
        elif action == "snapshot":
            from huggingface_hub import snapshot_download
            p = snapshot_download(repo)
            out = {"ok": True, "path": p}
        elif action == "dataset-snapshot":
            from huggingface_hub import snapshot_download
            p = snapshot_download(repo, repo_type="dataset")
            out = {"ok": True, "path": p}
        elif action == "dataset-download":
            from huggingface_hub import hf_hub_download
            p = hf_hub_download(repo, arg, repo_type="dataset")
            out = {"ok": True, "path": p}
        elif action == "load-dataset":
            # The datasets library only reads parquet here; it is only pointed at clean repos.
            from datasets import load_dataset
            ds = load_dataset(repo, split="train")
            out = {"ok": True, "rows": ds.num_rows, "columns": ds.column_names, "first": ds[0]}
        elif action == "info":
            from huggingface_hub import model_info
            i = model_info(repo)
            out = {"ok": True, "sha": i.sha, "files": sorted(s.rfilename for s in i.siblings)}
        elif action == "list":
            from huggingface_hub import list_repo_files
            out = {"ok": True, "files": sorted(list_repo_files(repo))}
        elif action == "exists":
            from huggingface_hub import file_exists
            out = {"ok": True, "exists": file_exists(repo, arg)}
        elif action == "paths-info":
            from huggingface_hub import HfApi
            infos = HfApi().get_paths_info(repo, [arg])
            out = {"ok": True, "paths": [i.path for i in infos]}
        elif action == "auto-config":
            from transformers import AutoConfig
            c = AutoConfig.from_pretrained(repo)
            out = {"ok": True, "model_type": c.model_type, "hidden_size": c.hidden_size}
        elif action == "auto-model":
            # Only ever pointed at repositories whose weights the gateway serves after scanning.
            from transformers import AutoModel
            m = AutoModel.from_pretrained(repo)
            out = {"ok": True, "params": sum(p.numel() for p in m.parameters())}
        else:
            raise SystemExit(f"unknown action {action}")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the test wants every failure's type and text
        chain = []
        cur = e
        while cur is not None and len(chain) < 5:
            chain.append(f"{type(cur).__name__}: {cur}")
            cur = cur.__cause__ or cur.__context__
        out = {"ok": False, "type": type(e).__name__, "message": str(e), "chain": chain,
               "trace": traceback.format_exc()[-2000:]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
