"""POST /api/v1/{vehicles,drivers,companies}/import — bulk CSV/XLSX upload (admin).

The whole file is validated (rows and database cross-checks) before anything
is written; a bad row means a 422 with the per-row report and nothing stored,
unless ``skip_invalid`` is set. Oversized files get a 413 naming the limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse

from dashboard.deps import SessionDep, SettingsDep
from dashboard.routes.registry_api import (
    UPLOAD_ERRORS,
    AdminOnly,
    ImportReport,
    committing,
    read_upload,
)
from registry.importer import import_file

router = APIRouter(prefix="/api/v1", tags=["import"])

Upload = Annotated[UploadFile, File(description="CSV (UTF-8 with or without BOM, or GBK) "
                                    "or XLSX; first row = column headers, Chinese or English")]
SkipInvalid = Annotated[bool, Form(description="store the good rows and report the bad "
                                   "ones instead of refusing the whole file")]


async def _import(kind: str, file: UploadFile, skip_invalid: bool, session: SessionDep,
                  settings: SettingsDep) -> JSONResponse | ImportReport:
    data = await read_upload(file, settings.import_max_bytes)
    with committing(session):
        outcome = import_file(session, kind, data, filename=file.filename,
                              skip_invalid=skip_invalid, max_bytes=settings.import_max_bytes,
                              now=datetime.now(UTC))
    report = outcome.as_dict()
    if outcome.errors and not skip_invalid:
        message = (f"{len(outcome.errors)} problems in {file.filename or 'the file'}; "
                   "nothing was imported (fix the rows, or send skip_invalid=true)")
        return JSONResponse({"error": message, "status": 422, **report}, status_code=422)
    return ImportReport.model_validate(report)


@router.post("/vehicles/import", response_model=ImportReport, responses=UPLOAD_ERRORS,
             dependencies=[AdminOnly], tags=["vehicles"])
async def import_vehicles(file: Upload, session: SessionDep, settings: SettingsDep,
                          skip_invalid: SkipInvalid = False) -> JSONResponse | ImportReport:
    """Upsert vehicles by plate. Columns: 号牌号码 车辆识别代号 车辆类型 所属企业 辖区代码
    (required), 终端编号 警号 核准路线 核准场所 准运证有效期 状态."""
    return await _import("vehicles", file, skip_invalid, session, settings)


@router.post("/drivers/import", response_model=ImportReport, responses=UPLOAD_ERRORS,
             dependencies=[AdminOnly], tags=["drivers"])
async def import_drivers(file: Upload, session: SessionDep, settings: SettingsDep,
                         skip_invalid: SkipInvalid = False) -> JSONResponse | ImportReport:
    """Upsert drivers by licence number. Columns: 驾驶证号 姓名 (required), 联系电话 所属企业
    从业资格 (``kind:expiry; …``)."""
    return await _import("drivers", file, skip_invalid, session, settings)


@router.post("/companies/import", response_model=ImportReport, responses=UPLOAD_ERRORS,
             dependencies=[AdminOnly], tags=["companies"])
async def import_companies(file: Upload, session: SessionDep, settings: SettingsDep,
                           skip_invalid: SkipInvalid = False) -> JSONResponse | ImportReport:
    """Upsert companies by code. Columns: 企业编码 企业名称 企业类型 统一社会信用代码
    (required), 联系人 联系电话 回调地址 邮箱 短信号码."""
    return await _import("companies", file, skip_invalid, session, settings)
