<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
    <context>
        <name>AllSpark</name>
        <message>
            <source>Automatic</source>
            <translation>自动</translation>
        </message>
        <message>
            <source>CPU</source>
            <translation>CPU</translation>
        </message>
        <message>
            <source>CUDA (NVIDIA GPU)</source>
            <translation>CUDA（NVIDIA GPU）</translation>
        </message>
        <message>
            <source>Backend ready; the model is still loading (device: {device}); {n} bundle(s).</source>
            <translation>后端已就绪；模型仍在加载（设备：{device}）；{n} 个模型包。</translation>
        </message>
        <message>
            <source>Starting the AllSpark backend...</source>
            <translation>正在启动 AllSpark 后端...</translation>
        </message>
        <message>
            <source>Starting the AllSpark backend</source>
            <translation>正在启动 AllSpark 后端</translation>
        </message>
        <message>
            <source>Checking the AllSpark backend</source>
            <translation>正在检查 AllSpark 后端</translation>
        </message>
        <message>
            <source>Stopping the backend...</source>
            <translation>正在停止后端...</translation>
        </message>
        <message>
            <source>Backend: not running</source>
            <translation>后端：未运行</translation>
        </message>
        <message>
            <source>Backend: starting...</source>
            <translation>后端：正在启动...</translation>
        </message>
        <message>
            <source>Backend: ready</source>
            <translation>后端：就绪</translation>
        </message>
        <message>
            <source>Backend: unreachable</source>
            <translation>后端：无法连接</translation>
        </message>
        <message>
            <source>Backend: stopping...</source>
            <translation>后端：正在停止...</translation>
        </message>
        <message>
            <source>Backend ready on {device}; {n} bundle(s).</source>
            <translation>后端已在 {device} 上就绪；共 {n} 个模型包。</translation>
        </message>
        <message>
            <source>Backend running, but its model could not be loaded: {error}</source>
            <translation>后端正在运行，但无法加载其模型：{error}</translation>
        </message>
        <message>
            <source>Waiting for the backend to be ready</source>
            <translation>正在等待后端就绪</translation>
        </message>
        <message>
            <source>The backend was not started by this plugin; it keeps running.</source>
            <translation>后端不是由本插件启动的，将继续运行。</translation>
        </message>
        <message>
            <source>Backend stopped.</source>
            <translation>后端已停止。</translation>
        </message>
        <message>
            <source>Stopping the AllSpark backend</source>
            <translation>正在停止 AllSpark 后端</translation>
        </message>
        <message>
            <source>The backend's Python ({path}) does not exist; check AllSpark &gt; Settings.</source>
            <translation>后端的 Python（{path}）不存在；请检查 AllSpark &gt; 设置。</translation>
        </message>
        <message>
            <source>Stopping the backend: {error}</source>
            <translation>停止后端时出错：{error}</translation>
        </message>
        <message>
            <source>No AllSpark backend can be reached. Start it from AllSpark &gt; Settings (Start backend), run `allspark serve` and point the settings (or ALLSPARK_CONNECTION_FILE) at its connection file.</source>
            <translation>无法连接任何 AllSpark 后端。请在 AllSpark &gt; 设置 中启动后端（启动后端），或运行 `allspark serve` 并在设置（或 ALLSPARK_CONNECTION_FILE）中指定其连接文件。</translation>
        </message>
        <message>
            <source>The Python package pyzmq is missing from QGIS's Python; install it (pip install pyzmq, or your system's python3-zmq package) and restart QGIS.</source>
            <translation>QGIS 的 Python 中缺少 pyzmq 包；请安装它（pip install pyzmq，或系统的 python3-zmq 软件包）并重启 QGIS。</translation>
        </message>
        <message>
            <source>The AllSpark backend ({path}) does not answer: {error}</source>
            <translation>AllSpark 后端（{path}）没有响应：{error}</translation>
        </message>
        <message>
            <source>{layer} - {bundle}</source>
            <translation>{layer} - {bundle}</translation>
        </message>
        <message>
            <source>The layer has no rows of readings.</source>
            <translation>该图层没有读数行。</translation>
        </message>
        <message>
            <source>A sensor-network bundle trains on a table of readings (a column per sensor).</source>
            <translation>传感器网络模型包在读数表（每个传感器一列）上训练。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a table of sensor readings.</source>
            <translation>模型包“{name}”需要一张传感器读数表。</translation>
        </message>
        <message>
            <source>Bundle '{name}' reads {count} sensors; this table lacks {missing} of them (e.g. {first}).</source>
            <translation>模型包“{name}”读取 {count} 个传感器；此表缺少其中 {missing} 个（例如 {first}）。</translation>
        </message>
        <message>
            <source>The sensors' places come from '{layer}': the road graph is made from the distances between them.</source>
            <translation>传感器的位置来自“{layer}”：路网图由它们之间的距离构建。</translation>
        </message>
        <message>
            <source>{name} on {points}</source>
            <translation>{name}（{points}）</translation>
        </message>
        <message>
            <source>{name}, timeline</source>
            <translation>{name}，时间线</translation>
        </message>
        <message>
            <source>A point-cloud bundle trains on a point-cloud layer.</source>
            <translation>点云模型包需要在点云图层上训练。</translation>
        </message>
        <message>
            <source>The point cloud must be a LAS, LAZ or COPC file.</source>
            <translation>点云必须是 LAS、LAZ 或 COPC 文件。</translation>
        </message>
        <message>
            <source>the backend sent no point coordinates</source>
            <translation>后端未发送点坐标</translation>
        </message>
        <message>
            <source>{layer} - classes</source>
            <translation>{layer} - 类别</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a point-cloud layer.</source>
            <translation>模型包“{name}”需要点云图层。</translation>
        </message>
        <message>
            <source>Bundle '{name}' reads LAS, LAZ or COPC files; this layer's source ({source}) is not one of them.</source>
            <translation>模型包“{name}”读取 LAS、LAZ 或 COPC 文件；此图层的数据源（{source}）不属于这些格式。</translation>
        </message>
        <message>
            <source>Training on a raster needs a labelled point or polygon layer (Labels).</source>
            <translation>在栅格上训练需要一个已标注的点或面图层（标注）。</translation>
        </message>
        <message>
            <source>Choose the labels' class field.</source>
            <translation>请选择标注的类别字段。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a raster layer.</source>
            <translation>模型包“{name}”需要栅格图层。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs {bands} band(s); this raster has {count}.</source>
            <translation>模型包“{name}”需要 {bands} 个波段；此栅格有 {count} 个。</translation>
        </message>
        <message>
            <source>A {modality} bundle trains on a raster layer.</source>
            <translation>{modality} 模型包需要在栅格图层上训练。</translation>
        </message>
        <message>
            <source>Patches per class: {counts}</source>
            <translation>每个类别的图块数：{counts}</translation>
        </message>
        <message>
            <source>The extent does not overlap the raster layer '{name}'.</source>
            <translation>范围与栅格图层“{name}”不重叠。</translation>
        </message>
        <message>
            <source>Classes from the field '{field}': {names}</source>
            <translation>来自字段“{field}”的类别：{names}</translation>
        </message>
        <message>
            <source>A table bundle trains on a vector layer or table with a target field.</source>
            <translation>表格模型包需要在带有目标字段的矢量图层或表格上训练。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a vector layer or table.</source>
            <translation>模型包“{name}”需要矢量图层或表格。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs the field(s) {fields}, which this layer lacks.</source>
            <translation>模型包“{name}”需要字段 {fields}，而此图层缺少这些字段。</translation>
        </message>
        <message>
            <source>The layer has no field '{field}'.</source>
            <translation>图层没有字段“{field}”。</translation>
        </message>
        <message>
            <source>The layer has no text field.</source>
            <translation>该图层没有文本字段。</translation>
        </message>
        <message>
            <source>A text bundle trains on a layer or table with a text field and a label field.</source>
            <translation>文本模型包在带有文本字段和标签字段的图层或表上训练。</translation>
        </message>
        <message>
            <source>The layer '{name}' has no features to send.</source>
            <translation>图层“{name}”没有可发送的要素。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a layer or table with a text field.</source>
            <translation>模型包“{name}”需要带有文本字段的图层或表。</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}' has no text in the field '{field}'.</source>
            <translation>“{layer}”的要素 {fid} 在字段“{field}”中没有文本。</translation>
        </message>
        <message>
            <source>A trajectory bundle trains on a point or line layer.</source>
            <translation>轨迹模型包需要在点或线图层上训练。</translation>
        </message>
        <message>
            <source>{layer} - predicted paths</source>
            <translation>{layer} - 预测路径</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a point or line layer with a time field and an id field.</source>
            <translation>模型包“{name}”需要带有时间字段和 ID 字段的点或线图层。</translation>
        </message>
        <message>
            <source>The layer '{name}' needs a time field and a track id field.</source>
            <translation>图层“{name}”需要一个时间字段和一个轨迹编号字段。</translation>
        </message>
        <message>
            <source>The layer '{name}' needs a time field and an id field to be read as trajectories.</source>
            <translation>图层“{name}”需要一个时间字段和一个 ID 字段才能作为轨迹读取。</translation>
        </message>
        <message>
            <source>The layer has no field of video clip paths (.mp4, .avi, .mkv, .mov, .webm).</source>
            <translation>该图层没有视频片段路径字段（.mp4、.avi、.mkv、.mov、.webm）。</translation>
        </message>
        <message>
            <source>A video bundle trains on a layer or table with a field of video clip paths and a label field.</source>
            <translation>视频模型包在带有视频片段路径字段和标签字段的图层或表上训练。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a layer or table with a field of video clip paths.</source>
            <translation>模型包“{name}”需要带有视频片段路径字段的图层或表。</translation>
        </message>
        <message>
            <source>{n} clips from the field '{field}'.</source>
            <translation>来自字段“{field}”的 {n} 个片段。</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}' has no video clip in the field '{field}'.</source>
            <translation>“{layer}”的要素 {fid} 在字段“{field}”中没有视频片段。</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}': the video clip '{value}' (field '{field}') is not there: {path}</source>
            <translation>“{layer}”的要素 {fid}：视频片段“{value}”（字段“{field}”）不存在：{path}</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}' has no label in the field '{field}'.</source>
            <translation>“{layer}”的要素 {fid} 在字段“{field}”中没有标签。</translation>
        </message>
        <message>
            <source>not detected</source>
            <translation>未识别</translation>
        </message>
        <message>
            <source>AllSpark</source>
            <translation>AllSpark</translation>
        </message>
        <message>
            <source>Start</source>
            <translation>启动</translation>
        </message>
        <message>
            <source>Start or reconnect to the backend</source>
            <translation>启动或重新连接后端</translation>
        </message>
        <message>
            <source>Layer</source>
            <translation>图层</translation>
        </message>
        <message>
            <source>Modality</source>
            <translation>模态</translation>
        </message>
        <message>
            <source>Reload the bundle list from the backend</source>
            <translation>从后端重新加载模型包列表</translation>
        </message>
        <message>
            <source>Bundle</source>
            <translation>模型包</translation>
        </message>
        <message>
            <source>Layer extent</source>
            <translation>图层范围</translation>
        </message>
        <message>
            <source>Map canvas extent</source>
            <translation>地图画布范围</translation>
        </message>
        <message>
            <source>Selected features</source>
            <translation>所选要素</translation>
        </message>
        <message>
            <source>Extent</source>
            <translation>范围</translation>
        </message>
        <message>
            <source>(no limit)</source>
            <translation>（不限制）</translation>
        </message>
        <message>
            <source>Only the pixels inside the selected polygons of this layer are used, and the areas in the answer are theirs.</source>
            <translation>仅使用该图层所选多边形内的像元，回答中的面积也是这些多边形的面积。</translation>
        </message>
        <message>
            <source>Limit to selected polygons of</source>
            <translation>限制在以下图层的所选多边形内</translation>
        </message>
        <message>
            <source>(this layer only)</source>
            <translation>（仅此图层）</translation>
        </message>
        <message>
            <source>One written question about the layer and these layers at once: each is read by the first bundle of its modality and the LLM reads them side by side.</source>
            <translation>一个文字问题同时针对此图层和这些图层：每个图层由其模态的第一个模型包读取，LLM 将它们并列阅读。</translation>
        </message>
        <message>
            <source>Ask together with</source>
            <translation>一并询问</translation>
        </message>
        <message>
            <source>Train a bundle on this layer...</source>
            <translation>在此图层上训练模型包...</translation>
        </message>
        <message>
            <source>Open the 'Train a bundle' algorithm with this layer filled in</source>
            <translation>打开“训练模型包”算法，并预先填入此图层</translation>
        </message>
        <message>
            <source>The bundle's prompts</source>
            <translation>模型包的提示词</translation>
        </message>
        <message>
            <source>Ask something about the layer...</source>
            <translation>就该图层提问...</translation>
        </message>
        <message>
            <source>Answer in words</source>
            <translation>用文字回答</translation>
        </message>
        <message>
            <source>Add results as layers</source>
            <translation>将结果添加为图层</translation>
        </message>
        <message>
            <source>Run</source>
            <translation>运行</translation>
        </message>
        <message>
            <source>Cancel</source>
            <translation>取消</translation>
        </message>
        <message>
            <source>The answer appears here.</source>
            <translation>回答将显示在这里。</translation>
        </message>
        <message>
            <source>History</source>
            <translation>历史记录</translation>
        </message>
        <message>
            <source>Clear history</source>
            <translation>清除历史记录</translation>
        </message>
        <message>
            <source>Choose a layer.</source>
            <translation>请选择一个图层。</translation>
        </message>
        <message>
            <source>Start the backend first.</source>
            <translation>请先启动后端。</translation>
        </message>
        <message>
            <source>Sending to the backend...</source>
            <translation>正在发送到后端...</translation>
        </message>
        <message>
            <source>Cancelled.</source>
            <translation>已取消。</translation>
        </message>
        <message>
            <source>Time field</source>
            <translation>时间字段</translation>
        </message>
        <message>
            <source>Track id field</source>
            <translation>轨迹 ID 字段</translation>
        </message>
        <message>
            <source>(choose the modality)</source>
            <translation>（请选择模态）</translation>
        </message>
        <message>
            <source>Ask the bundle about the layer</source>
            <translation>用模型包询问此图层</translation>
        </message>
        <message>
            <source>Cancelling...</source>
            <translation>正在取消...</translation>
        </message>
        <message>
            <source>Done.</source>
            <translation>完成。</translation>
        </message>
        <message>
            <source>Auto ({modality})</source>
            <translation>自动（{modality}）</translation>
        </message>
        <message>
            <source>Choose the modality by hand</source>
            <translation>手动选择模态</translation>
        </message>
        <message>
            <source>AllSpark: {bundle} on {layer}</source>
            <translation>AllSpark：{bundle} 作用于 {layer}</translation>
        </message>
        <message>
            <source>About the layer '{layer}', chosen before:</source>
            <translation>关于之前选择的图层“{layer}”：</translation>
        </message>
        <message>
            <source>AllSpark answered about '{layer}'.</source>
            <translation>AllSpark 已回答关于“{layer}”的问题。</translation>
        </message>
        <message>
            <source>(no {modality} bundle)</source>
            <translation>（没有 {modality} 模型包）</translation>
        </message>
        <message>
            <source>Writing the answer...</source>
            <translation>正在撰写回答...</translation>
        </message>
        <message>
            <source>The results could not be added as layers: {error}</source>
            <translation>无法将结果添加为图层：{error}</translation>
        </message>
        <message>
            <source>Added layers: {names}</source>
            <translation>已添加图层：{names}</translation>
        </message>
        <message>
            <source>AllSpark Settings</source>
            <translation>AllSpark 设置</translation>
        </message>
        <message>
            <source>Start the backend</source>
            <translation>启动后端</translation>
        </message>
        <message>
            <source>The Python of an environment where the allspark backend is installed (e.g. .venv/bin/python); the plugin runs `python -m allspark serve`.</source>
            <translation>安装了 allspark 后端的环境中的 Python（例如 .venv/bin/python）；插件将运行 `python -m allspark serve`。</translation>
        </message>
        <message>
            <source>Backend Python</source>
            <translation>后端 Python</translation>
        </message>
        <message>
            <source>Device</source>
            <translation>设备</translation>
        </message>
        <message>
            <source>GGUF models (*.gguf)</source>
            <translation>GGUF 模型 (*.gguf)</translation>
        </message>
        <message>
            <source>default (Gemma 3 270M)</source>
            <translation>默认（Gemma 3 270M）</translation>
        </message>
        <message>
            <source>LLM file</source>
            <translation>LLM 文件</translation>
        </message>
        <message>
            <source>Bundles folder</source>
            <translation>模型包文件夹</translation>
        </message>
        <message>
            <source>Start the backend when QGIS starts</source>
            <translation>QGIS 启动时启动后端</translation>
        </message>
        <message>
            <source>Or connect to a running backend</source>
            <translation>或连接到正在运行的后端</translation>
        </message>
        <message>
            <source>Connection files (*.json)</source>
            <translation>连接文件 (*.json)</translation>
        </message>
        <message>
            <source>default connection file</source>
            <translation>默认连接文件</translation>
        </message>
        <message>
            <source>Connection file</source>
            <translation>连接文件</translation>
        </message>
        <message>
            <source>Request time limit</source>
            <translation>请求时间限制</translation>
        </message>
        <message>
            <source>Start backend</source>
            <translation>启动后端</translation>
        </message>
        <message>
            <source>Stop backend</source>
            <translation>停止后端</translation>
        </message>
        <message>
            <source>{done} of {total} blocks</source>
            <translation>第 {done} / {total} 个块</translation>
        </message>
        <message>
            <source>{done} of {total} tiles</source>
            <translation>第 {done} / {total} 个瓦片</translation>
        </message>
        <message>
            <source>Working...</source>
            <translation>处理中...</translation>
        </message>
        <message>
            <source>{done} of {total} pixels</source>
            <translation>{done} / {total} 个像元</translation>
        </message>
        <message>
            <source>{done} pixels</source>
            <translation>{done} 个像元</translation>
        </message>
        <message>
            <source>{done} tiles</source>
            <translation>{done} 个瓦片</translation>
        </message>
        <message>
            <source>{done} of {total} rows</source>
            <translation>{done} / {total} 行</translation>
        </message>
        <message>
            <source>{done} rows</source>
            <translation>{done} 行</translation>
        </message>
        <message>
            <source>{done} of {total} tracks</source>
            <translation>{done} / {total} 条轨迹</translation>
        </message>
        <message>
            <source>{done} tracks</source>
            <translation>{done} 条轨迹</translation>
        </message>
        <message>
            <source>Starting...</source>
            <translation>正在开始...</translation>
        </message>
        <message>
            <source>part {done} of {total}</source>
            <translation>第 {done} / {total} 部分</translation>
        </message>
        <message>
            <source>{count} ({part})</source>
            <translation>{count}（{part}）</translation>
        </message>
        <message>
            <source>date-times</source>
            <translation>日期时间</translation>
        </message>
        <message>
            <source>seconds</source>
            <translation>秒</translation>
        </message>
        <message>
            <source>The layer to limit the question to is missing or invalid.</source>
            <translation>用于限制提问范围的图层缺失或无效。</translation>
        </message>
        <message>
            <source>The frame rate must be a positive number of frames per second.</source>
            <translation>帧率必须是正的每秒帧数。</translation>
        </message>
        <message>
            <source>frames at {rate} per second</source>
            <translation>帧（每秒 {rate} 帧）</translation>
        </message>
        <message>
            <source>The raster layer '{name}' has no pixels.</source>
            <translation>栅格图层“{name}”没有像元。</translation>
        </message>
        <message>
            <source>Every pixel of '{name}' in this extent is nodata.</source>
            <translation>“{name}”在此范围内的所有像元均为无数据。</translation>
        </message>
        <message>
            <source>The layer '{name}' holds no polygons: a question is limited to the selected polygons of a polygon layer.</source>
            <translation>图层“{name}”不含多边形：提问只能限制在多边形图层的所选多边形内。</translation>
        </message>
        <message>
            <source>No polygon of the layer '{name}' is selected: select the polygons to limit the question to.</source>
            <translation>图层“{name}”中没有选中的多边形：请选择要限制提问范围的多边形。</translation>
        </message>
        <message>
            <source>The selected polygons of the layer '{region}' do not overlap the raster layer '{name}'{extent}.</source>
            <translation>图层“{region}”的所选多边形与栅格图层“{name}”{extent}不重叠。</translation>
        </message>
        <message>
            <source>The layer '{name}' lacks the field(s) {fields}.</source>
            <translation>图层“{name}”缺少字段 {fields}。</translation>
        </message>
        <message>
            <source>Unknown time unit '{units}' (one of: {known}).</source>
            <translation>未知的时间单位“{units}”（可选：{known}）。</translation>
        </message>
        <message>
            <source>The time field '{field}' of layer '{name}' holds numbers, not date-times: say whether they are seconds or frame numbers.</source>
            <translation>图层“{name}”的时间字段“{field}”存放的是数字而不是日期时间：请说明它们是秒还是帧号。</translation>
        </message>
        <message>
            <source>The time field '{field}' of layer '{name}' holds date-times, not {units}.</source>
            <translation>图层“{name}”的时间字段“{field}”存放的是日期时间，而不是{units}。</translation>
        </message>
        <message>
            <source>The layer '{name}' has no field '{field}'.</source>
            <translation>图层“{name}”没有字段“{field}”。</translation>
        </message>
        <message>
            <source>The layer '{name}' has no fixes with a time and a track id.</source>
            <translation>图层“{name}”没有同时带有时间和轨迹 ID 的定位点。</translation>
        </message>
        <message>
            <source>The point cloud '{name}' is not a LAS, LAZ or COPC file ({path}); AllSpark reads only those.</source>
            <translation>点云“{name}”不是 LAS、LAZ 或 COPC 文件（{path}）；AllSpark 只读取这些格式。</translation>
        </message>
        <message>
            <source>The point cloud file {path} does not exist.</source>
            <translation>点云文件 {path} 不存在。</translation>
        </message>
        <message>
            <source>Cannot read band {band} of the raster.</source>
            <translation>无法读取栅格的第 {band} 波段。</translation>
        </message>
        <message>
            <source>The polygons of the layer '{name}' cannot be placed in the raster's coordinate reference system: {error}</source>
            <translation>无法将图层“{name}”的多边形转换到栅格的坐标参考系：{error}</translation>
        </message>
        <message>
            <source>Feature {fid} of the layer '{name}' has no geometry.</source>
            <translation>图层“{name}”的要素 {fid} 没有几何。</translation>
        </message>
        <message>
            <source>Polygon {fid} of the layer '{name}' is invalid ({error}); fix it first, e.g. with Processing's 'Fix geometries'.</source>
            <translation>图层“{name}”的多边形 {fid} 无效（{error}）；请先修复，例如使用处理工具“修复几何”。</translation>
        </message>
        <message>
            <source> in this extent</source>
            <translation>在此范围内</translation>
        </message>
        <message>
            <source>frame numbers</source>
            <translation>帧号</translation>
        </message>
        <message>
            <source>RGB</source>
            <translation>RGB</translation>
        </message>
        <message>
            <source>Multispectral</source>
            <translation>多光谱</translation>
        </message>
        <message>
            <source>Hyperspectral</source>
            <translation>高光谱</translation>
        </message>
        <message>
            <source>SAR</source>
            <translation>SAR</translation>
        </message>
        <message>
            <source>Table</source>
            <translation>表格</translation>
        </message>
        <message>
            <source>Trajectory</source>
            <translation>轨迹</translation>
        </message>
        <message>
            <source>Point cloud</source>
            <translation>点云</translation>
        </message>
        <message>
            <source>Sensor network</source>
            <translation>传感器网络</translation>
        </message>
        <message>
            <source>Text</source>
            <translation>文本</translation>
        </message>
        <message>
            <source>Video</source>
            <translation>视频</translation>
        </message>
        <message>
            <source>Code</source>
            <translation>代码</translation>
        </message>
        <message>
            <source>Oblique photography</source>
            <translation>倾斜摄影</translation>
        </message>
        <message>
            <source>Infrared</source>
            <translation>红外</translation>
        </message>
        <message>
            <source>an RGB image</source>
            <translation>RGB 影像</translation>
        </message>
        <message>
            <source>a multispectral raster</source>
            <translation>多光谱栅格</translation>
        </message>
        <message>
            <source>a hyperspectral raster</source>
            <translation>高光谱栅格</translation>
        </message>
        <message>
            <source>a SAR image</source>
            <translation>SAR（雷达）影像</translation>
        </message>
        <message>
            <source>a table</source>
            <translation>表格</translation>
        </message>
        <message>
            <source>a trajectory layer (points with a time and a track id)</source>
            <translation>轨迹图层（带时间和轨迹编号的点）</translation>
        </message>
        <message>
            <source>a point cloud</source>
            <translation>点云</translation>
        </message>
        <message>
            <source>a table of sensor readings over time (a column per sensor)</source>
            <translation>一张随时间变化的传感器读数表（每个传感器一列）</translation>
        </message>
        <message>
            <source>a layer or table with a text field (reports, comments, reviews)</source>
            <translation>带有文本字段的图层或表（报告、评论、点评）</translation>
        </message>
        <message>
            <source>a layer or table with a field of video clip paths</source>
            <translation>带有视频片段路径字段的图层或表</translation>
        </message>
        <message>
            <source>AllSpark does not read this kind of layer.</source>
            <translation>AllSpark 无法读取这种图层。</translation>
        </message>
        <message>
            <source>a layer AllSpark cannot tell the modality of</source>
            <translation>AllSpark 无法判断其模态的图层</translation>
        </message>
        <message>
            <source>No {modality} bundle is installed, so AllSpark cannot answer about this layer yet.</source>
            <translation>没有安装{modality}模型包，因此 AllSpark 暂时无法回答关于此图层的问题。</translation>
        </message>
        <message>
            <source> (1 band)</source>
            <translation>（1 个波段）</translation>
        </message>
        <message>
            <source>Train one on this layer, or, if '{modality}' is wrong, choose the modality by hand.</source>
            <translation>请在此图层上训练一个模型包；如果“{modality}”不对，请手动选择模态。</translation>
        </message>
        <message>
            <source>AllSpark cannot tell what this raster holds from its {count} band(s) ({dtype}): choose the modality by hand.</source>
            <translation>仅凭 {count} 个波段（{dtype}），AllSpark 无法判断此栅格的内容：请手动选择模态。</translation>
        </message>
        <message>
            <source>AllSpark does not read this kind of layer; bundle '{name}' needs {want}.</source>
            <translation>AllSpark 无法读取这种图层；模型包“{name}”需要{want}。</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs {want}. {reason}</source>
            <translation>模型包“{name}”需要{want}。{reason}</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs {want}, but this layer looks like {have}{detail}.</source>
            <translation>模型包“{name}”需要{want}，但此图层看起来是{have}{detail}。</translation>
        </message>
        <message>
            <source>Train one on this layer: draw points or polygons on it in a new layer with a class field, then train a bundle from them. If '{modality}' is wrong, choose the modality by hand.</source>
            <translation>请在此图层上训练一个：在一个带类别字段的新图层中于其上绘制点或多边形，然后用它们训练模型包。如果“{modality}”不对，请手动选择模态。</translation>
        </message>
        <message>
            <source> ({count} bands)</source>
            <translation>（{count} 个波段）</translation>
        </message>
        <message>
            <source>Ask AllSpark...</source>
            <translation>询问 AllSpark...</translation>
        </message>
        <message>
            <source>Open the AllSpark prompt panel</source>
            <translation>打开 AllSpark 提示面板</translation>
        </message>
        <message>
            <source>Start Backend</source>
            <translation>启动后端</translation>
        </message>
        <message>
            <source>Stop Backend</source>
            <translation>停止后端</translation>
        </message>
        <message>
            <source>Settings...</source>
            <translation>设置...</translation>
        </message>
        <message>
            <source>Diagnostics...</source>
            <translation>诊断...</translation>
        </message>
        <message>
            <source>Write a report for a bug report (versions, device, backend log)</source>
            <translation>生成用于错误报告的诊断报告（版本、设备、后端日志）</translation>
        </message>
        <message>
            <source>Train a Bundle...</source>
            <translation>训练模型包...</translation>
        </message>
        <message>
            <source>AllSpark backend status</source>
            <translation>AllSpark 后端状态</translation>
        </message>
        <message>
            <source>The AllSpark Processing provider is already registered.</source>
            <translation>AllSpark 处理提供程序已经注册。</translation>
        </message>
        <message>
            <source>Set the backend's Python in AllSpark &gt; Settings first (or a connection file).</source>
            <translation>请先在 AllSpark &gt; 设置 中设置后端的 Python（或连接文件）。</translation>
        </message>
        <message>
            <source>AllSpark Diagnostics</source>
            <translation>AllSpark 诊断</translation>
        </message>
        <message>
            <source>AllSpark diagnostics</source>
            <translation>AllSpark 诊断</translation>
        </message>
        <message>
            <source>Diagnostics written to {path}</source>
            <translation>诊断报告已写入 {path}</translation>
        </message>
        <message>
            <source>The report was written to {path}.</source>
            <translation>报告已写入 {path}。</translation>
        </message>
        <message>
            <source>Raster</source>
            <translation>栅格</translation>
        </message>
        <message>
            <source>Limit to the selected features of this polygon layer</source>
            <translation>限制在此多边形图层的所选要素内</translation>
        </message>
        <message>
            <source>Run on a Ray cluster: empty = in the backend (default), local = a local Ray, or a cluster address</source>
            <translation>在 Ray 集群上运行：留空 = 在后端运行（默认），local = 本机 Ray，或填写集群地址</translation>
        </message>
        <message>
            <source>local starts Ray on the backend's machine; an address (host:port) joins a running Ray cluster whose nodes see the raster and the bundle at the same paths. Each Ray worker holds one model and classifies many windows; the output is a label GeoTIFF on the input's grid.</source>
            <translation>local 在后端所在机器上启动 Ray；地址（主机:端口）则加入正在运行的 Ray 集群，其各节点须能以相同路径访问栅格和模型包。每个 Ray 工作进程持有一个模型并分类许多窗口；输出为与输入同网格的类别 GeoTIFF。</translation>
        </message>
        <message>
            <source>a local Ray</source>
            <translation>本机 Ray</translation>
        </message>
        <message>
            <source>Input raster</source>
            <translation>输入栅格</translation>
        </message>
        <message>
            <source>Extent (default: the whole raster)</source>
            <translation>范围（默认：整个栅格）</translation>
        </message>
        <message>
            <source>Classified raster</source>
            <translation>分类栅格</translation>
        </message>
        <message>
            <source>Class names</source>
            <translation>类别名称</translation>
        </message>
        <message>
            <source>Running bundle {name} on Ray ({where}).</source>
            <translation>正在 Ray（{where}）上运行模型包 {name}。</translation>
        </message>
        <message>
            <source>Ray: {workers} workers, {tasks} windows, {seconds} s.</source>
            <translation>Ray：{workers} 个工作进程，{tasks} 个窗口，{seconds} 秒。</translation>
        </message>
        <message>
            <source>Running on Ray needs a raster file the backend can read; the layer '{name}' is not a local file.</source>
            <translation>在 Ray 上运行需要后端可读取的栅格文件；图层“{name}”不是本地文件。</translation>
        </message>
        <message>
            <source>Ask about a layer</source>
            <translation>就图层提问</translation>
        </message>
        <message>
            <source>Sends the layer (a raster extent, the attribute rows, the tracks or the point-cloud file) with a prompt to a bundle of its modality; the answer is written in words by the LLM. Without a bundle, the first bundle of the layer's detected modality is used; without a prompt, the bundle's own prompt. A raster question may be limited to the selected polygons of another layer (a field, a parcel). With other layers, one question is asked about all of them at once: each layer is read by the first bundle of its modality, and the LLM reads them side by side.</source>
            <translation>将图层（栅格范围、属性行、轨迹或点云文件）连同提示发送给对应模态的模型包；答案由 LLM 以文字写出。未指定模型包时，使用检测到的模态的第一个模型包；未指定提示时，使用模型包自带的提示。栅格问题可以限制在另一图层的选中面要素内（一块田、一个地块）。指定其他图层时，一个问题同时针对所有图层：每个图层由其模态的第一个模型包读取，LLM 将它们并列阅读。</translation>
        </message>
        <message>
            <source>Modality (default: detected from the layer)</source>
            <translation>模态（默认：根据图层检测）</translation>
        </message>
        <message>
            <source>What do these layers show, and how do they relate?</source>
            <translation>这些图层显示了什么，它们之间有什么关系？</translation>
        </message>
        <message>
            <source>Prompt</source>
            <translation>提示词</translation>
        </message>
        <message>
            <source>Also ask about these layers (one question about all of them)</source>
            <translation>同时询问这些图层（一个问题涵盖所有图层）</translation>
        </message>
        <message>
            <source>Longest answer (tokens)</source>
            <translation>最长回答（词元数）</translation>
        </message>
        <message>
            <source>Answer file</source>
            <translation>回答文件</translation>
        </message>
        <message>
            <source>Text files (*.txt)</source>
            <translation>文本文件 (*.txt)</translation>
        </message>
        <message>
            <source>Answer</source>
            <translation>回答</translation>
        </message>
        <message>
            <source>Head result in words</source>
            <translation>文字形式的预测结果</translation>
        </message>
        <message>
            <source>Bundle used</source>
            <translation>所用模型包</translation>
        </message>
        <message>
            <source>Only a question about a raster can be limited to polygons.</source>
            <translation>只有关于栅格的提问才能限制在多边形内。</translation>
        </message>
        <message>
            <source>The input layer is missing or invalid.</source>
            <translation>输入图层缺失或无效。</translation>
        </message>
        <message>
            <source>Asking bundle {name}...</source>
            <translation>正在询问模型包 {name}...</translation>
        </message>
        <message>
            <source>Answer: {text}</source>
            <translation>回答：{text}</translation>
        </message>
        <message>
            <source>Asking one question about {names}...</source>
            <translation>正在就 {names} 提出一个问题...</translation>
        </message>
        <message>
            <source>The backend has no bundle for {modality} layers.</source>
            <translation>后端没有适用于 {modality} 图层的模型包。</translation>
        </message>
        <message>
            <source>One question can hold at most {n} other layers.</source>
            <translation>一个问题最多可包含 {n} 个其他图层。</translation>
        </message>
        <message>
            <source>The backend has no bundle named '{name}'.</source>
            <translation>后端没有名为“{name}”的模型包。</translation>
        </message>
        <message>
            <source>The backend has no bundle for the layer '{name}' ({modality}).</source>
            <translation>后端没有适用于图层“{name}”（{modality}）的模型包。</translation>
        </message>
        <message>
            <source>The trained AllSpark bundle (encoder + bridge + head) to use; its name.</source>
            <translation>要使用的已训练 AllSpark 模型包（编码器 + 桥接器 + 预测头）；填写其名称。</translation>
        </message>
        <message>
            <source>any layer</source>
            <translation>任何图层</translation>
        </message>
        <message>
            <source>No bundle is selected, and the backend has none for {kinds}; train one on your layer with AllSpark &gt; Train a Bundle... or add one to the bundles folder.</source>
            <translation>未选择模型包，且后端没有适用于{kinds}的模型包；请用 AllSpark &gt; 训练模型包... 在您的图层上训练一个，或将模型包加入模型包文件夹。</translation>
        </message>
        <message>
            <source>Sends the raster block by block; the bundle classifies every valid pixel (hyperspectral bundles from its spectrum, dense bundles of any raster tile by tile). The output has the input's grid, nodata where the input is nodata, and the class names in its legend.</source>
            <translation>逐块发送栅格；模型包对每个有效像元分类（高光谱模型包依据其光谱，任意栅格的密集模型包逐瓦片处理）。输出与输入网格一致，输入为 nodata 处输出也为 nodata，图例中列出类别名称。</translation>
        </message>
        <message>
            <source>Classify pixels (per-pixel bundles)</source>
            <translation>像元分类（逐像元模型包）</translation>
        </message>
        <message>
            <source>Bundle {name}: {w} x {h} pixels.</source>
            <translation>模型包 {name}：{w} x {h} 个像元。</translation>
        </message>
        <message>
            <source>The backend reads the layer's LAS / LAZ / COPC file and classifies every point it keeps per tile. The output is a 3D point layer with the class of each point (styled by class). The backend can also write a classified copy of the point cloud (.las, .laz or .copc.laz): every point of the file with the ASPRS code of its class (ground 2, building 6, ...; a point not kept in its tile takes the class of the nearest kept point), its other attributes, the header and the CRS as they were. A LAS / LAZ file that this QGIS cannot open (no PDAL) can be given by its path: the backend converts it to COPC first (kept where the COPC copy parameter says, and loaded as a point cloud layer).</source>
            <translation>后端读取图层的 LAS / LAZ / COPC 文件，并对每个瓦片中保留的每个点进行分类。输出为按类别设置样式的三维点图层，包含每个点的类别。后端还可以写出点云的分类副本（.las、.laz 或 .copc.laz）：文件中的每个点都带有其类别的 ASPRS 代码（地面 2、建筑 6 等；瓦片中未保留的点取最近的保留点的类别），其他属性、文件头和坐标参考系保持不变。此 QGIS 无法打开的 LAS / LAZ 文件（没有 PDAL）可以通过路径给出：后端会先将其转换为 COPC（保存在“COPC 副本”参数指定的位置，并作为点云图层加载）。</translation>
        </message>
        <message>
            <source>Classify point cloud</source>
            <translation>点云分类</translation>
        </message>
        <message>
            <source>Point cloud (a layer, or a LAS / LAZ file)</source>
            <translation>点云（图层，或 LAS / LAZ 文件）</translation>
        </message>
        <message>
            <source>A point cloud layer, or the path of a LAS / LAZ file; this QGIS opens only COPC point clouds (it has no PDAL provider), so a LAS / LAZ file is converted to COPC by the backend first.</source>
            <translation>点云图层，或 LAS / LAZ 文件的路径；此 QGIS 只能打开 COPC 点云（没有 PDAL 数据提供程序），因此后端会先将 LAS / LAZ 文件转换为 COPC。</translation>
        </message>
        <message>
            <source>Classified point cloud (LAS / LAZ copy of the input)</source>
            <translation>分类后的点云（输入的 LAS / LAZ 副本）</translation>
        </message>
        <message>
            <source>LAZ files (*.laz);;LAS files (*.las);;COPC files (*.copc.laz)</source>
            <translation>LAZ 文件 (*.laz);;LAS 文件 (*.las);;COPC 文件 (*.copc.laz)</translation>
        </message>
        <message>
            <source>A copy of the input point cloud, written by the backend, with the class of every point: .laz (compressed), .las, or .copc.laz (a COPC file this QGIS opens). Never the input itself.</source>
            <translation>由后端写出的输入点云副本，包含每个点的类别：.laz（压缩）、.las 或 .copc.laz（此 QGIS 可以打开的 COPC 文件）。绝不会覆盖输入本身。</translation>
        </message>
        <message>
            <source>LAS / LAZ / COPC files (*.las *.laz *.LAS *.LAZ *.copc.laz)</source>
            <translation>LAS / LAZ / COPC 文件 (*.las *.laz *.LAS *.LAZ *.copc.laz)</translation>
        </message>
        <message>
            <source>Classified points</source>
            <translation>已分类的点</translation>
        </message>
        <message>
            <source>COPC copy of a LAS / LAZ input (viewable in this QGIS)</source>
            <translation>LAS / LAZ 输入的 COPC 副本（可在此 QGIS 中查看）</translation>
        </message>
        <message>
            <source>This QGIS cannot open LAS / LAZ files (it has no PDAL provider); the backend converts {path} to COPC first: {copc}</source>
            <translation>此 QGIS 无法打开 LAS / LAZ 文件（没有 PDAL 数据提供程序）；后端先将 {path} 转换为 COPC：{copc}</translation>
        </message>
        <message>
            <source>The backend reads {path}.</source>
            <translation>后端读取 {path}。</translation>
        </message>
        <message>
            <source>The COPC copy {copc} of {path} does not open in QGIS: {error}</source>
            <translation>{path} 的 COPC 副本 {copc} 无法在 QGIS 中打开：{error}</translation>
        </message>
        <message>
            <source>The backend writes the classified point cloud to {path}.</source>
            <translation>后端将分类后的点云写入 {path}。</translation>
        </message>
        <message>
            <source>The backend did not write the classified point cloud {path}; update the backend.</source>
            <translation>后端没有写出分类后的点云 {path}；请更新后端。</translation>
        </message>
        <message>
            <source>Classified point cloud written: {path} ({classified} of {points} points classified).</source>
            <translation>分类后的点云已写出：{path}（{points} 个点中已分类 {classified} 个）。</translation>
        </message>
        <message>
            <source>Cuts the raster into tiles of the bundle's input size (or the given size), asks the bundle for the class of each tile, and writes a classified raster on the tile grid with the class names in its legend. Tiles that are all nodata stay nodata.</source>
            <translation>将栅格切分为模型包输入尺寸（或指定尺寸）的瓦片，由模型包判定每个瓦片的类别，并在瓦片网格上写出分类栅格，图例中显示类别名称。全部为无数据的瓦片保持为无数据。</translation>
        </message>
        <message>
            <source>Classify raster (tiled)</source>
            <translation>栅格分类（分块）</translation>
        </message>
        <message>
            <source>Tile size in pixels (0: the size of the bundle's training images)</source>
            <translation>瓦片大小（像素；0：模型包训练图像的大小）</translation>
        </message>
        <message>
            <source>Bundle {name}: tiles of {tile} px over a window of {w} x {h} px.</source>
            <translation>模型包 {name}：在 {w} x {h} 像元的窗口上使用 {tile} 像元的瓦片。</translation>
        </message>
        <message>
            <source>This QGIS opens point clouds only as COPC (Cloud Optimized Point Cloud) files: without the PDAL provider, plain LAS and LAZ files do not open. The AllSpark backend rewrites a LAS / LAZ file as COPC (*.copc.laz): every point with its coordinates and attributes, and the file's CRS. The result is loaded as a point cloud layer.</source>
            <translation>此 QGIS 只能打开 COPC（云优化点云）格式的点云：没有 PDAL 数据提供程序时，普通 LAS 和 LAZ 文件无法打开。AllSpark 后端将 LAS / LAZ 文件重写为 COPC（*.copc.laz）：保留每个点的坐标和属性，以及文件的坐标参考系。结果作为点云图层加载。</translation>
        </message>
        <message>
            <source>Convert LAS/LAZ to COPC</source>
            <translation>将 LAS/LAZ 转换为 COPC</translation>
        </message>
        <message>
            <source>LAS / LAZ file</source>
            <translation>LAS / LAZ 文件</translation>
        </message>
        <message>
            <source>LAS / LAZ files (*.las *.laz *.LAS *.LAZ)</source>
            <translation>LAS / LAZ 文件 (*.las *.laz *.LAS *.LAZ)</translation>
        </message>
        <message>
            <source>COPC file</source>
            <translation>COPC 文件</translation>
        </message>
        <message>
            <source>Points</source>
            <translation>点数</translation>
        </message>
        <message>
            <source>Converting {path} to COPC: {copc}</source>
            <translation>正在将 {path} 转换为 COPC：{copc}</translation>
        </message>
        <message>
            <source>{points} points in {nodes} octree nodes, CRS: {crs}.</source>
            <translation>{points} 个点，分布在 {nodes} 个八叉树节点中，坐标参考系：{crs}。</translation>
        </message>
        <message>
            <source>{path} is not a LAS / LAZ file (*.las, *.laz).</source>
            <translation>{path} 不是 LAS / LAZ 文件（*.las、*.laz）。</translation>
        </message>
        <message>
            <source>The LAS / LAZ file {path} does not exist.</source>
            <translation>LAS / LAZ 文件 {path} 不存在。</translation>
        </message>
        <message>
            <source>The COPC file {copc} was written but does not open in QGIS: {error}</source>
            <translation>COPC 文件 {copc} 已写出，但无法在 QGIS 中打开：{error}</translation>
        </message>
        <message>
            <source>The COPC file {copc} holds {n} points, not the {m} of {path}.</source>
            <translation>COPC 文件 {copc} 含有 {n} 个点，而不是 {path} 的 {m} 个点。</translation>
        </message>
        <message>
            <source>none</source>
            <translation>无</translation>
        </message>
        <message>
            <source>Computes the depth of every pixel of a reference view from overlapping oblique aerial images with known cameras, with an oblique photography bundle. The folder is a WHU-OMVS area (info/viewpair.txt, images/, cams/) or a folder of areas, or an MVSNet-style scene (cams/0000000X_cam.txt, images/, optionally pair.txt) or a folder of scenes. Each reference view is read with its best source views as the bundle was trained (views per sample, image size). The depth map is written as a float32 GeoTIFF (georeferenced like the reference image when that is a GeoTIFF, else on its pixel grid, one unit per pixel); pixels no source view sees are nodata. With more than one reference view, the others are written beside the output, named after their views.</source>
            <translation>使用倾斜摄影模型包，根据相机已知、相互重叠的倾斜航空影像，计算参考视图中每个像素的深度。文件夹为一个 WHU-OMVS 区域（info/viewpair.txt、images/、cams/）或区域文件夹，或一个 MVSNet 风格场景（cams/0000000X_cam.txt、images/，可选 pair.txt）或场景文件夹。每个参考视图按模型包训练时的方式（每个样本的视图数、影像尺寸）与其最佳源视图一起读取。深度图写为 float32 GeoTIFF（参考影像为 GeoTIFF 时按其地理参考，否则按其像素网格，每像素一个单位）；任何源视图都看不到的像素为 nodata。有多个参考视图时，其余的写在输出旁边，以其视图命名。</translation>
        </message>
        <message>
            <source>Depth from oblique images</source>
            <translation>由倾斜影像计算深度</translation>
        </message>
        <message>
            <source>Reference views to compute (0: every view of the folder)</source>
            <translation>要计算的参考视图数（0：文件夹中的每个视图）</translation>
        </message>
        <message>
            <source>How many reference views get a depth map: the first view of each scene in turn, then each scene's second, ...; 0 computes one for every view.</source>
            <translation>为多少个参考视图计算深度图：依次取每个场景的第一个视图，然后是每个场景的第二个……；0 表示为每个视图都计算。</translation>
        </message>
        <message>
            <source>Computing the depth maps...</source>
            <translation>正在计算深度图……</translation>
        </message>
        <message>
            <source>Folder of views and cameras (WHU-OMVS or MVSNet layout)</source>
            <translation>视图与相机文件夹（WHU-OMVS 或 MVSNet 结构）</translation>
        </message>
        <message>
            <source>Depth map</source>
            <translation>深度图</translation>
        </message>
        <message>
            <source>Depth maps (every reference view)</source>
            <translation>深度图（每个参考视图）</translation>
        </message>
        <message>
            <source>Choose the folder of views and cameras.</source>
            <translation>请选择视图与相机文件夹。</translation>
        </message>
        <message>
            <source>Bundle {name}: {views} views per reference view.</source>
            <translation>模型包 {name}：每个参考视图 {views} 个视图。</translation>
        </message>
        <message>
            <source>Cannot write {path}: {error}</source>
            <translation>无法写入 {path}：{error}</translation>
        </message>
        <message>
            <source>{path} is not a folder.</source>
            <translation>{path} 不是文件夹。</translation>
        </message>
        <message>
            <source>The backend returned no depth map for {path}.</source>
            <translation>后端没有为 {path} 返回深度图。</translation>
        </message>
        <message>
            <source>Reference view {view}: {w} x {h} px, {share} % with a depth ({lo} to {hi}); written to {path}.</source>
            <translation>参考视图 {view}：{w} x {h} 像素，{share}% 有深度（{lo} 至 {hi}）；已写入 {path}。</translation>
        </message>
        <message>
            <source>Reference view {view}: no source view sees any of its pixels; {path} is all nodata.</source>
            <translation>参考视图 {view}：没有任何源视图看到其像素；{path} 全为 nodata。</translation>
        </message>
        <message>
            <source>Depth {view}</source>
            <translation>深度 {view}</translation>
        </message>
        <message>
            <source>Writes a one-sentence docstring for a script, an expression file or every script of a folder (Python, R, SQL, Ruby, JavaScript, QGIS expressions, ...), with a code bundle. With a search sentence, every script is also ranked by how close it is to the sentence (1 = the closest). The output is a table: file, function, docstring, similarity and rank.</source>
            <translation>使用代码模型包为一个脚本、一个表达式文件或文件夹中的每个脚本（Python、R、SQL、Ruby、JavaScript、QGIS 表达式等）写一句话的文档字符串。给出搜索语句时，还按与该语句的接近程度为每个脚本排序（1 = 最接近）。输出为一张表：文件、函数、文档字符串、相似度和排名。</translation>
        </message>
        <message>
            <source>Describe and search scripts</source>
            <translation>描述与搜索脚本</translation>
        </message>
        <message>
            <source>The LLM reads and describes every script; this takes a few seconds each.</source>
            <translation>LLM 会阅读并描述每个脚本；每个需要几秒钟。</translation>
        </message>
        <message>
            <source>Script or expression file</source>
            <translation>脚本或表达式文件</translation>
        </message>
        <message>
            <source>Folder of scripts</source>
            <translation>脚本文件夹</translation>
        </message>
        <message>
            <source>Search sentence (optional)</source>
            <translation>搜索语句（可选）</translation>
        </message>
        <message>
            <source>Described scripts</source>
            <translation>已描述的脚本</translation>
        </message>
        <message>
            <source>Choose a script or a folder of scripts.</source>
            <translation>请选择一个脚本或脚本文件夹。</translation>
        </message>
        <message>
            <source>Searches a folder of visible-light images of people (chips; or a folder per person; or a SYSU-MM01 folder) for the person in an infrared image, with an infrared re-identification bundle. The output is a table of the nearest images, best first: rank, file and distance (0 = the same appearance, 2 = the most different), and the person and camera where the gallery's folders name them.</source>
            <translation>使用红外重识别模型包，在人员可见光影像文件夹（影像切片；或每人一个文件夹；或 SYSU-MM01 文件夹）中查找红外影像中的人。输出为最接近影像的表，最佳在前：排名、文件和距离（0 = 外观相同，2 = 差异最大），以及图库文件夹给出的人员和相机。</translation>
        </message>
        <message>
            <source>Find a person in visible images</source>
            <translation>在可见光影像中查找人员</translation>
        </message>
        <message>
            <source>Infrared image of the person</source>
            <translation>该人员的红外影像</translation>
        </message>
        <message>
            <source>One image file (JPEG, PNG, BMP, TIFF) taken in infrared light.</source>
            <translation>一个以红外光拍摄的影像文件（JPEG、PNG、BMP、TIFF）。</translation>
        </message>
        <message>
            <source>Folder of visible-light images</source>
            <translation>可见光影像文件夹</translation>
        </message>
        <message>
            <source>Image chips of people, a folder per person, or a SYSU-MM01 folder (cam1 .. cam6).</source>
            <translation>人员影像切片、每人一个文件夹，或 SYSU-MM01 文件夹（cam1 .. cam6）。</translation>
        </message>
        <message>
            <source>Reading the gallery and ranking it for the person; a few images a second.</source>
            <translation>正在读取图库并为该人员排序；每秒几张影像。</translation>
        </message>
        <message>
            <source>Number of matches</source>
            <translation>匹配数量</translation>
        </message>
        <message>
            <source>Matches</source>
            <translation>匹配结果</translation>
        </message>
        <message>
            <source>Choose an infrared image and a folder of visible-light images.</source>
            <translation>请选择一张红外影像和一个可见光影像文件夹。</translation>
        </message>
        <message>
            <source>The bundle '{name}' gave no ranking for the image.</source>
            <translation>模型包“{name}”没有为该影像给出排序。</translation>
        </message>
        <message>
            <source>Predicts a value (regression, e.g. PM2.5 in ug/m3) or a class for every feature from the fields the bundle was trained on, or a class for every feature's text (a text bundle: reports, comments, reviews). The output is a copy of the layer with the prediction as new fields (&lt;target&gt;_pred, or pred_class and pred_prob).</source>
            <translation>根据模型包训练时使用的字段为每个要素预测一个值（回归，例如以 ug/m3 计的 PM2.5）或一个类别，或为每个要素的文本预测一个类别（文本模型包：报告、评论、点评）。输出为图层的副本，预测结果写入新字段（&lt;target&gt;_pred，或 pred_class 和 pred_prob）。</translation>
        </message>
        <message>
            <source>Vector</source>
            <translation>矢量</translation>
        </message>
        <message>
            <source>Predict attribute</source>
            <translation>预测属性</translation>
        </message>
        <message>
            <source>Input layer or table</source>
            <translation>输入图层或表格</translation>
        </message>
        <message>
            <source>Predictions</source>
            <translation>预测结果</translation>
        </message>
        <message>
            <source>{n} rows.</source>
            <translation>{n} 行。</translation>
        </message>
        <message>
            <source>Detect (date-times; whole numbers in a 'frame' field are frames)</source>
            <translation>自动识别（日期时间；“frame”字段中的整数视为帧号）</translation>
        </message>
        <message>
            <source>Seconds</source>
            <translation>秒</translation>
        </message>
        <message>
            <source>Frame numbers (at the frame rate below)</source>
            <translation>帧号（按下方的帧率）</translation>
        </message>
        <message>
            <source>Date-times</source>
            <translation>日期时间</translation>
        </message>
        <message>
            <source>Reads the tracks of a point layer (one fix per feature) or line layer (vertex times from M values, or from the time field), and predicts candidate future paths for each track. The output has one line per candidate with its rank (1 = most likely) and score (the scores of a track sum to 1), in the layer's CRS, starting at the track's last observed fix. Time and track id fields are found automatically when left empty; say what the time field holds (seconds, frame numbers at a rate, date-times) when detection gets it wrong.</source>
            <translation>读取点图层（每个要素一个定位点）或线图层（顶点时间取自 M 值或时间字段）中的轨迹，并为每条轨迹预测候选的未来路径。输出中每个候选一条线，带有其排名（1 = 最可能）和得分（同一轨迹的得分之和为 1），使用图层的坐标参考系，从轨迹最后一个观测点开始。时间字段和轨迹编号字段留空时会自动查找；如果识别有误，请说明时间字段存放的内容（秒、按帧率的帧号、日期时间）。</translation>
        </message>
        <message>
            <source>Time field holds</source>
            <translation>时间字段存放</translation>
        </message>
        <message>
            <source>What the time field holds: seconds, frame numbers (at the frame rate below) or date-times. Detect reads date and time fields and text such as 2024-05-01T10:00:00 as date-times, whole numbers in a field named frame or frame_id as frames, and other numbers as seconds.</source>
            <translation>时间字段存放的内容：秒、帧号（按下方的帧率）或日期时间。“自动识别”将日期和时间字段以及 2024-05-01T10:00:00 这样的文本视为日期时间，将名为 frame 或 frame_id 的字段中的整数视为帧号，其他数字视为秒。</translation>
        </message>
        <message>
            <source>Frame rate (frames per second, for frame numbers)</source>
            <translation>帧率（每秒帧数，用于帧号）</translation>
        </message>
        <message>
            <source>Frames per second of the time field's frame numbers: 25 for ETH-UCY (10 frames = 0.4 s).</source>
            <translation>时间字段中帧号的每秒帧数：ETH-UCY 为 25（10 帧 = 0.4 秒）。</translation>
        </message>
        <message>
            <source>Predict trajectories</source>
            <translation>预测轨迹</translation>
        </message>
        <message>
            <source>Trajectory layer</source>
            <translation>轨迹图层</translation>
        </message>
        <message>
            <source>Predicted trajectories</source>
            <translation>预测的轨迹</translation>
        </message>
        <message>
            <source>{points} fixes in {tracks} tracks (time: {t}, as {units}; id: {i}).</source>
            <translation>{tracks} 条轨迹中的 {points} 个定位点（时间：{t}，单位为{units}；编号：{i}）。</translation>
        </message>
        <message>
            <source>{n} candidate paths for {tracks} tracks.</source>
            <translation>{tracks} 条轨迹共 {n} 条候选路径。</translation>
        </message>
        <message>
            <source>The layer '{name}' needs a time field and a track id field (none was given and none could be found).</source>
            <translation>图层“{name}”需要一个时间字段和一个轨迹编号字段（未指定，也未找到）。</translation>
        </message>
        <message>
            <source>AllSpark multimodal model</source>
            <translation>AllSpark 多模态模型</translation>
        </message>
        <message>
            <source>Training</source>
            <translation>训练</translation>
        </message>
        <message>
            <source>Train a bundle</source>
            <translation>训练模型包</translation>
        </message>
        <message>
            <source>Trains encoder, bridge and head against the backend's frozen LLM from your layers: a raster with a labelled point or polygon layer (RGB, multispectral and SAR learn one class per patch, hyperspectral one class per pixel; with "Classify every pixel" any raster learns a class per pixel, read in 16 x 16 px tiles, one LLM pass each), a trajectory layer (time and track id fields), a table with a target field (numbers: regression; text: classification), or a point cloud with a classification attribute (ground = 2). The bundle is written to the bundles folder and is listed right away.</source>
            <translation>基于您的图层，针对后端冻结的 LLM 训练编码器、桥接层和任务头：带有已标注点或面图层的栅格（RGB、多光谱和 SAR 每个图块学习一个类别，高光谱每个像元一个类别；勾选“对每个像元分类”后，任何栅格都按像元学习类别，以 16 x 16 像素瓦片读取，每个瓦片一次 LLM 推理），轨迹图层（时间字段和轨迹 ID 字段），带目标字段的表格（数值：回归；文本：分类），或带分类属性的点云（地面 = 2）。模型包写入模型包文件夹，并立即出现在列表中。</translation>
        </message>
        <message>
            <source>Training options (JSON)</source>
            <translation>训练选项（JSON）</translation>
        </message>
        <message>
            <source>Advanced settings passed to the backend's trainer, e.g. {"batch_size": 16, "lr": 0.0003, "max_samples": 2000, "bridge": {"queries": 16}}.</source>
            <translation>传递给后端训练器的高级设置，例如 {"batch_size": 16, "lr": 0.0003, "max_samples": 2000, "bridge": {"queries": 16}}。</translation>
        </message>
        <message>
            <source>Training layer</source>
            <translation>训练图层</translation>
        </message>
        <message>
            <source>Labels (points or polygons, for a raster)</source>
            <translation>标注（点或面，用于栅格）</translation>
        </message>
        <message>
            <source>Class field of the labels</source>
            <translation>标注的类别字段</translation>
        </message>
        <message>
            <source>Target field (table)</source>
            <translation>目标字段（表格）</translation>
        </message>
        <message>
            <source>Time field (trajectory)</source>
            <translation>时间字段（轨迹）</translation>
        </message>
        <message>
            <source>Track id field (trajectory)</source>
            <translation>轨迹 ID 字段（轨迹）</translation>
        </message>
        <message>
            <source>Bundle name</source>
            <translation>模型包名称</translation>
        </message>
        <message>
            <source>Epochs</source>
            <translation>训练轮数</translation>
        </message>
        <message>
            <source>Patch size in pixels (RGB, multispectral, SAR)</source>
            <translation>图块大小（像元；RGB、多光谱、SAR）</translation>
        </message>
        <message>
            <source>Classify every pixel (raster: dense tiles, one LLM pass per 16 x 16 px tile)</source>
            <translation>对每个像元分类（栅格：密集瓦片，每个 16 x 16 像素瓦片一次 LLM 推理）</translation>
        </message>
        <message>
            <source>Bundles folder (default: the backend's)</source>
            <translation>模型包文件夹（默认：后端的文件夹）</translation>
        </message>
        <message>
            <source>Bundle folder</source>
            <translation>模型包文件夹</translation>
        </message>
        <message>
            <source>Validation metrics (JSON)</source>
            <translation>验证指标（JSON）</translation>
        </message>
        <message>
            <source>AllSpark cannot train on this kind of layer.</source>
            <translation>AllSpark 无法用此类图层进行训练。</translation>
        </message>
        <message>
            <source>Give the bundle a name without slashes.</source>
            <translation>请为模型包指定一个不含斜杠的名称。</translation>
        </message>
        <message>
            <source>Training options must be a JSON object.</source>
            <translation>训练选项必须是一个 JSON 对象。</translation>
        </message>
        <message>
            <source>Training {name} ({modality}) on {data}</source>
            <translation>正在用 {data} 训练 {name}（{modality}）</translation>
        </message>
        <message>
            <source>New bundle {name} in {path}</source>
            <translation>新模型包 {name} 位于 {path}</translation>
        </message>
        <message>
            <source>Unknown training option(s): {names}; known: {known}</source>
            <translation>未知的训练选项：{names}；可用选项：{known}</translation>
        </message>
        <message>
            <source>Training options are not valid JSON: {error}</source>
            <translation>训练选项不是有效的 JSON：{error}</translation>
        </message>
        <message>
            <source>The backend sent no point coordinates with the classes (element_xyz); update the backend.</source>
            <translation>后端没有随类别发送点坐标（element_xyz）；请更新后端。</translation>
        </message>
        <message>
            <source>The backend sent paths relative to each track's last fix without the fixes; update the backend.</source>
            <translation>后端发送了相对于每条轨迹最后定位点的路径，却没有发送这些定位点；请更新后端。</translation>
        </message>
        <message>
            <source>Cannot open {path}.</source>
            <translation>无法打开 {path}。</translation>
        </message>
        <message>
            <source>{name} (AllSpark)</source>
            <translation>{name}（AllSpark）</translation>
        </message>
        <message>
            <source>Cannot write {path}.</source>
            <translation>无法写入 {path}。</translation>
        </message>
        <message>
            <source>Reading {name}...</source>
            <translation>正在读取 {name}...</translation>
        </message>
        <message>
            <source>Sorting the points into an octree...</source>
            <translation>正在将点排入八叉树...</translation>
        </message>
        <message>
            <source>COPC file written.</source>
            <translation>COPC 文件已写出。</translation>
        </message>
        <message>
            <source>Starting a local Ray...</source>
            <translation>正在启动本机 Ray...</translation>
        </message>
        <message>
            <source>Writing the output...</source>
            <translation>正在写入输出...</translation>
        </message>
        <message>
            <source>Encoding the training examples once...</source>
            <translation>正在编码训练样例（仅一次）...</translation>
        </message>
        <message>
            <source>Scoring the validation examples (they chose nothing)...</source>
            <translation>正在用验证样例评估（它们未参与任何选择）...</translation>
        </message>
        <message>
            <source>accuracy</source>
            <translation>准确率</translation>
        </message>
        <message>
            <source>RMSE</source>
            <translation>RMSE</translation>
        </message>
        <message>
            <source>best-of-20 ADE (m)</source>
            <translation>20 条中最佳 ADE（米）</translation>
        </message>
        <message>
            <source>{done} of {total} windows done on Ray</source>
            <translation>Ray 已完成 {done}/{total} 个窗口</translation>
        </message>
        <message>
            <source>{done} of {total} files done on Ray</source>
            <translation>Ray 已完成 {done}/{total} 个文件</translation>
        </message>
        <message>
            <source>Writing octree node {done} of {total}</source>
            <translation>正在写入八叉树节点 {done} / {total}</translation>
        </message>
        <message>
            <source>Joining the Ray cluster at {address}...</source>
            <translation>正在加入位于 {address} 的 Ray 集群...</translation>
        </message>
        <message>
            <source>{n} Ray workers are loading bundle {name}...</source>
            <translation>{n} 个 Ray 工作进程正在加载模型包 {name}...</translation>
        </message>
        <message>
            <source>Training on {train} examples; {select} choose the epochs, {val} are kept to report the result ({params} million weights).</source>
            <translation>在 {train} 个样例上训练；{select} 个用于选择轮次，{val} 个留作报告结果（{params} 百万个权重）。</translation>
        </message>
        <message>
            <source>Training the encoder: epoch {epoch} of {epochs}, {metric} {value} on the model-selection examples (best {best})</source>
            <translation>正在训练编码器：第 {epoch} / {epochs} 轮，模型选择样例上的{metric} {value}（最佳 {best}）</translation>
        </message>
        <message>
            <source>Training through the LLM: epoch {epoch} of {epochs}, step {step} of {steps}</source>
            <translation>正在经由 LLM 训练：第 {epoch} / {epochs} 轮，第 {step} / {steps} 步</translation>
        </message>
        <message>
            <source>Training through the LLM: epoch {epoch} finished, {metric} {value} on the model-selection examples (best {best})</source>
            <translation>经由 LLM 训练：第 {epoch} 轮完成，模型选择样例上的{metric} {value}（最佳 {best}）</translation>
        </message>
        <message>
            <source>Bundle written to {path}</source>
            <translation>模型包已写入 {path}</translation>
        </message>
        <message>
            <source>Converting {name} to COPC...</source>
            <translation>正在将 {name} 转换为 COPC...</translation>
        </message>
        <message>
            <source>The backend returned {n} labels for a block of {m} pixels.</source>
            <translation>后端为 {m} 个像元的块返回了 {n} 个标签。</translation>
        </message>
        <message>
            <source>{task} (cancelled)</source>
            <translation>{task}（已取消）</translation>
        </message>
        <message>
            <source>{task}: cancelled.</source>
            <translation>{task}：已取消。</translation>
        </message>
        <message>
            <source>The task failed.</source>
            <translation>任务失败。</translation>
        </message>
        <message>
            <source>The label layer has no labelled features.</source>
            <translation>标注图层没有已标注的要素。</translation>
        </message>
        <message>
            <source>No labelled point falls on the raster.</source>
            <translation>没有标注点落在栅格上。</translation>
        </message>
        <message>
            <source>The labels have no field '{field}'.</source>
            <translation>标注没有字段“{field}”。</translation>
        </message>
        <message>
            <source>The layer '{name}' has no labelled features (field '{field}').</source>
            <translation>图层“{name}”没有带标签的要素（字段“{field}”）。</translation>
        </message>
        <message>
            <source>No labelled feature of the layer '{name}' falls on the raster layer '{raster}'.</source>
            <translation>图层“{name}”中没有带标签的要素落在栅格图层“{raster}”上。</translation>
        </message>
        <message>
            <source>Classes without a labelled pixel on the raster: {names}</source>
            <translation>在栅格上没有已标注像元的类别：{names}</translation>
        </message>
        <message>
            <source>The layer has no target field '{field}'.</source>
            <translation>图层没有目标字段“{field}”。</translation>
        </message>
        <message>
            <source>patch {k} of {n}</source>
            <translation>第 {k} / {n} 个图块</translation>
        </message>
        <message>
            <source>The features of the layer '{name}' cannot be placed in the raster's coordinate reference system: {error}</source>
            <translation>无法将图层“{name}”的要素转换到栅格的坐标参考系：{error}</translation>
        </message>
    </context>
</TS>
