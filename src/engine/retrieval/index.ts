/**
 * Retrieval: the SOP protocol on embeddings, exact search, benchmark outputs,
 * before/after comparison and the image index. What commands and the
 * extension import; the modules behind it say how each part works.
 */
export { type Embedder, type EmbeddingMatrix, checkEmbeddings, l2NormalizeRows } from './embeddings';
export { evaluateRetrieval, DEFAULT_NEIGHBOURS, type EvaluateOptions, type RetrievalEvaluation } from './evaluate';
export { SearchAborted, DEFAULT_BLOCK_SIZE, BUNDLED_SEARCH_WORKER_FILE } from './allPairs';
export { SOP_RECALL_KS, type QueryOutcomes, type RetrievalMetrics } from './metrics';
export {
  prepareGallery,
  searchExact,
  keepOnDevice,
  releaseFromDevice,
  type PreparedGallery,
  type SearchOptions as ExactSearchOptions,
} from './exactSearch';
export { ranksBefore, type TopKResult } from './topk';
export { runSopBenchmark, type BenchmarkImage, type SopBenchmarkInput, type SopBenchmarkResult } from './sopBenchmark';
export {
  writeSopOutputs,
  buildReport,
  formatReportMarkdown,
  REPORT_JSON,
  REPORT_MARKDOWN,
  type RunInfo,
  type SopReport,
  type SopOutputFiles,
} from './sopReport';
export {
  readNeighbours,
  writeNeighbours,
  NEIGHBOURS_MANIFEST,
  type LoadedNeighbours,
  type Neighbour,
  type NeighbourTable,
} from '../../shared/artifacts/neighboursFile';
export { readMetadata, writeMetadata, METADATA_FILE, type ImageRecord } from '../../shared/artifacts/metadataFile';
export { compareReports, formatComparisonText, formatComparisonMarkdown, type Comparison } from './compare';
export { readReport, parseReport, ReportError, type LoadedReport } from '../../shared/artifacts/reportFile';
export {
  buildIndex,
  buildIndexFromImages,
  loadIndex,
  ImageIndex,
  INDEX_MANIFEST,
  type IndexManifest,
  type ModelReference,
  type SearchHit,
  type SearchOptions as IndexSearchOptions,
} from './imageIndex';
