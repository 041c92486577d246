# Energy Lab. CPU image by default:
#   docker build -t energy-lab .
#   docker run -p 8501:8501 energy-lab
# CUDA image (train on the GPU; run with --gpus all):
#   docker build -t energy-lab:cuda \
#     --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 --build-arg TORCH_FLAVOUR=cuda .
#   docker run --gpus all -p 8501:8501 energy-lab:cuda
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_FLAVOUR=cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache DEBIAN_FRONTEND=noninteractive

# curl serves the health check; the CUDA bases come without Python
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && (command -v python3 >/dev/null || apt-get install -y --no-install-recommends python3 python3-pip) \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# the CPU flavour takes torch's CPU wheels (a few hundred MB instead of several GB of CUDA libraries)
RUN if [ "$TORCH_FLAVOUR" = "cpu" ]; then \
        python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu; \
    fi \
    && python3 -m pip install -r requirements.txt

COPY pyproject.toml README.md ./
COPY .streamlit ./.streamlit
COPY engine ./engine
COPY app ./app
COPY pages ./pages
COPY assets ./assets

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD curl --fail http://localhost:8501/_stcore/health || exit 1
ENTRYPOINT ["python3", "-m", "streamlit", "run", "app/main.py", "--server.address=0.0.0.0", \
            "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
